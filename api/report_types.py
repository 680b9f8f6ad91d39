"""/api/v1/report-types: the catalog, with each type's parameters as JSON Schema."""

from __future__ import annotations

from apispec.ext.marshmallow.openapi import OpenAPIConverter
from flask import Blueprint, Response, jsonify

from shared.catalog import REPORT_TYPES

blueprint = Blueprint("report_types", __name__, url_prefix="/api/v1/report-types")

_converter = OpenAPIConverter(
    openapi_version="3.1.0", schema_name_resolver=lambda _: None, spec=None
)


@blueprint.get("")
def list_report_types() -> Response:
    return jsonify(
        {
            "items": [
                {
                    "name": report_type.name,
                    "title": report_type.title,
                    "description": report_type.description,
                    "formats": list(report_type.formats),
                    "roles": sorted(report_type.roles),
                    "parameters": _converter.schema2jsonschema(report_type.parameters_schema),
                }
                for report_type in REPORT_TYPES.values()
            ]
        }
    )
