"""/api/v1/report-types: each type's formats, columns, and parameters as JSON Schema."""

from __future__ import annotations

from apispec import APISpec
from apispec.ext.marshmallow.openapi import OpenAPIConverter
from flask import Blueprint, Response, jsonify
from marshmallow import Schema, fields

from api.openapi.declarations import Operation, Success, documented
from shared.catalog import REPORT_TYPES

blueprint = Blueprint("report_types", __name__, url_prefix="/api/v1/report-types")

# Flat parameter schemas, so the spec is never asked for a component; it is only for its type.
_converter = OpenAPIConverter(
    openapi_version="3.1.0",
    schema_name_resolver=lambda _: None,
    spec=APISpec("report types", "1", "3.1.0"),
)


class ColumnSchema(Schema):
    name = fields.String()
    type = fields.String()
    description = fields.String()


class ReportTypeSchema(Schema):
    name = fields.String()
    title = fields.String()
    description = fields.String()
    formats = fields.List(fields.String())
    roles = fields.List(fields.String())
    columns = fields.List(fields.Nested(ColumnSchema))
    parameters = fields.Dict(metadata={"description": "The type's parameters as JSON Schema."})
    range_parameters = fields.List(
        fields.String(),
        allow_none=True,
        data_key="rangeParameters",
        metadata={
            "description": "The two parameters (first day, last day) that a report "
            "definition's period fills at each run; null when the type has no date range."
        },
    )


class CatalogSchema(Schema):
    items = fields.List(fields.Nested(ReportTypeSchema))


_CATALOG_SCHEMA = CatalogSchema()


@blueprint.get("")
@documented(
    Operation(
        summary="The report types, with their formats, roles, columns and parameters",
        tag="report types",
        success=Success(200, "The catalog.", CatalogSchema),
    )
)
def list_report_types() -> Response:
    return jsonify(
        _CATALOG_SCHEMA.dump(
            {
                "items": [
                    {
                        "name": report_type.name,
                        "title": report_type.title,
                        "description": report_type.description,
                        "formats": list(report_type.formats),
                        "roles": sorted(report_type.roles),
                        "columns": [
                            {"name": c.name, "type": c.type, "description": c.description}
                            for c in report_type.columns
                        ],
                        # Derived from the very schema that validates requests, standard
                        # parameters (columns, timezone) included.
                        "parameters": _converter.schema2jsonschema(report_type.schema_class),
                        "range_parameters": list(report_type.range_fields)
                        if report_type.range_fields
                        else None,
                    }
                    for report_type in REPORT_TYPES.values()
                ]
            }
        )
    )
