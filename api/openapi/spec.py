"""The OpenAPI 3.1 document of /api/v1, built from the app's routes and their declarations.

Nothing in it is written by hand: paths and methods come from Flask's URL map, bodies and
answers from the marshmallow schemas the views load and dump with, each report type's
parameters from the catalog, and what every route shares from the app's own hooks: a route
that is not public answers 401 (api/app.py authenticates it; app.config["PUBLIC_ENDPOINTS"]
lists the public ones), a method that carries a body answers 400 and 413 (api/bodies.py
parses it). A route without a declaration is an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from importlib.metadata import version
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.openapi import OpenAPIConverter
from flask import Flask
from werkzeug.routing import Rule

from api.bodies import BODY_METHODS
from api.camel import camelcase
from api.openapi.declarations import (
    ERROR_HEADERS,
    ERROR_TITLES,
    HTML,
    JSON,
    Header,
    Hidden,
    Operation,
    ProblemSchema,
    Success,
    declaration,
)
from api.reports.schemas import ReportRequestSchema
from shared.catalog import REPORT_TYPES, ReportType

PREFIX = "/api/v1"
OPENAPI_VERSION = "3.1.0"
PROBLEM_JSON = "application/problem+json"
IMPLICIT_METHODS = {"HEAD", "OPTIONS"}  # Flask answers these for every rule by itself
SECURITY: list[dict[str, list[str]]] = [{"bearer": []}]

# <converter(args):name> or <name> in a Flask rule.
_VARIABLE = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
_CONVERTER_SCHEMAS: dict[str, dict[str, Any]] = {
    "default": {"type": "string"},
    "string": {"type": "string"},
    "uuid": {"type": "string", "format": "uuid"},
    "int": {"type": "integer", "minimum": 0},
}


class UndocumentedRoute(RuntimeError):
    """A route under /api/v1 whose view carries no @documented declaration."""


def build_spec(app: Flask) -> dict[str, Any]:
    public_endpoints = app.config.get("PUBLIC_ENDPOINTS", frozenset())  # set by api/app.py
    marshmallow = MarshmallowPlugin()
    spec = APISpec(
        title="Reportbox API",
        version=version("reportbox"),
        openapi_version=OPENAPI_VERSION,
        plugins=[marshmallow],
        info={
            "description": "Background report exports: a request is answered 202 at once, "
            "and the report's status URL tells when its file is ready to download."
        },
    )
    spec.components.security_scheme(
        "bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    spec.components.schema("Problem", schema=ProblemSchema)
    converter = marshmallow.converter
    if converter is None:  # APISpec() calls the plugin's init_spec, which makes it
        raise RuntimeError("the marshmallow plugin has no converter")
    for report_type in REPORT_TYPES.values():
        spec.components.schema(parameters_name(report_type), schema=report_type.schema_class)
        spec.components.schema(
            request_name(report_type), component=_request_body(converter, report_type)
        )

    for rule, view_operation in _documented_rules(app):
        methods = sorted(_methods(rule))
        public = rule.endpoint in public_endpoints
        for path, path_type in _paths(rule, view_operation):
            operations = {
                method.lower(): _operation(rule, method, view_operation, path_type, public=public)
                for method in methods
            }
            spec.path(
                path=path, operations=operations, parameters=_path_parameters(rule, view_operation)
            )
    document = spec.to_dict()
    _require_every_property(document, list(_success_schemas(document)))
    return document


def parameters_name(report_type: ReportType) -> str:
    return report_type.schema_class.__name__  # the type's own name: SessionsParameters


def request_name(report_type: ReportType) -> str:
    return f"{_pascal(report_type.name)}ReportRequest"


def documented_routes(app: Flask) -> list[tuple[str, str]]:
    """(method, Flask rule) of every operation the document describes."""
    return sorted(
        (method, rule.rule) for rule, _ in _documented_rules(app) for method in _methods(rule)
    )


def _methods(rule: Rule) -> set[str]:
    """The rule's methods but HEAD and OPTIONS (Flask gives every rule its methods)."""
    return (rule.methods or set()) - IMPLICIT_METHODS


def _documented_rules(app: Flask) -> Iterator[tuple[Rule, Operation]]:
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: (rule.rule, rule.endpoint)):
        if not (rule.rule == PREFIX or rule.rule.startswith(f"{PREFIX}/")):
            continue
        found = declaration(app.view_functions[rule.endpoint])
        if found is None:
            raise UndocumentedRoute(f"{rule.rule} ({rule.endpoint}) has no @documented declaration")
        if not isinstance(found, Hidden):
            yield rule, found


def _paths(rule: Rule, operation: Operation) -> Iterator[tuple[str, ReportType | None]]:
    if not operation.per_report_type:
        yield _VARIABLE.sub(lambda match: f"{{{camelcase(match['name'])}}}", rule.rule), None
        return
    if len(rule.arguments) != 1:
        raise UndocumentedRoute(f"{rule.rule}: one path per report type needs one variable")
    for report_type in REPORT_TYPES.values():
        yield _VARIABLE.sub(_literally(report_type.name), rule.rule), report_type


def _literally(text: str) -> Callable[[re.Match[str]], str]:
    """A replacement for re.sub that inserts text as it is (no backslash escapes)."""
    return lambda _: text


def _path_parameters(rule: Rule, operation: Operation) -> list[dict[str, Any]]:
    if operation.per_report_type:
        return []  # the variable became the type's name
    return [
        {
            "in": "path",
            "name": camelcase(match["name"]),
            "required": True,
            "schema": _converter_schema(rule, match["converter"] or "default"),
        }
        for match in _VARIABLE.finditer(rule.rule)
    ]


def _converter_schema(rule: Rule, name: str) -> dict[str, Any]:
    """What a path variable matches: the converter's own openapi_schema, or werkzeug's."""
    converter = rule.map.converters[name]
    return dict(getattr(converter, "openapi_schema", None) or _CONVERTER_SCHEMAS[name])


def _operation(
    rule: Rule,
    method: str,
    operation: Operation,
    report_type: ReportType | None,
    *,
    public: bool,
) -> dict[str, Any]:
    view_name = rule.endpoint.rpartition(".")[2]
    result: dict[str, Any] = {
        "operationId": camelcase(view_name),
        "summary": operation.summary,
        "tags": [operation.tag],
        "security": [] if public else SECURITY,
        "parameters": [_header_parameter(header) for header in operation.request_headers],
        "responses": {str(operation.success.status): _success(operation.success)},
    }
    if operation.description:
        result["description"] = operation.description
    if operation.query is not None:
        result["parameters"].append({"in": "query", "schema": operation.query})
    if operation.body is not None:
        result["requestBody"] = {"required": True, "content": {JSON: {"schema": operation.body}}}
    if report_type is not None:
        result["operationId"] = f"{camelcase(view_name)}{_pascal(report_type.name)}"
        result["summary"] = f"{operation.summary}: {report_type.title}"
        result["description"] = (
            f"{report_type.description} Needs one of the roles "
            f"{', '.join(sorted(report_type.roles))}. Formats: {', '.join(report_type.formats)}."
        )
        result["requestBody"] = {
            "required": True,
            "content": {
                JSON: {"schema": {"$ref": f"#/components/schemas/{request_name(report_type)}"}}
            },
        }
    errors = dict(operation.errors)
    if not public:
        errors.setdefault(401, ERROR_TITLES[401])
    if method in BODY_METHODS:
        errors.setdefault(400, ERROR_TITLES[400])
        errors.setdefault(413, ERROR_TITLES[413])
    for status in sorted(errors):
        result["responses"][str(status)] = _problem(status, errors[status])
    if not result["parameters"]:
        del result["parameters"]
    return result


def _request_body(converter: OpenAPIConverter, report_type: ReportType) -> dict[str, Any]:
    """ReportRequestSchema, with this type's formats and its parameter schema filled in."""
    body = converter.schema2jsonschema(ReportRequestSchema)
    parameters = converter.schema2jsonschema(report_type.schema_class)
    body["properties"]["format"] = {"type": "string", "enum": list(report_type.formats)}
    body["properties"]["parameters"] = {
        "$ref": f"#/components/schemas/{parameters_name(report_type)}"
    }
    if parameters.get("required"):  # an empty object would not do, so it must be sent
        body["required"] = sorted({*body.get("required", ()), "parameters"})
    return body


def _success(success: Success) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": success.description}
    if success.file_types:
        # OpenAPI 3.1: binary content has no schema (there are no JSON values to describe).
        answer["content"] = {media_type: {} for media_type in success.file_types}
    elif success.schema is not None:
        answer["content"] = {success.content_type: {"schema": success.schema}}
    elif success.content_type == HTML:
        answer["content"] = {HTML: {"schema": {"type": "string"}}}
    if success.headers:
        answer["headers"] = _headers(success.headers)
    return answer


def _problem(status: int, description: str) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if status in ERROR_HEADERS:
        answer["headers"] = _headers(ERROR_HEADERS[status])
    return answer


def _headers(headers: tuple[Header, ...]) -> dict[str, Any]:
    return {
        header.name: {
            "description": header.description,
            "required": header.required,
            "schema": dict(header.schema),
        }
        for header in headers
    }


def _header_parameter(header: Header) -> dict[str, Any]:
    return {
        "in": "header",
        "name": header.name,
        "description": header.description,
        "required": header.required,
        "schema": dict(header.schema),
    }


def _success_schemas(document: dict[str, Any]) -> Iterator[Any]:
    for operations in document["paths"].values():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            for status, answer in operation["responses"].items():
                if status.startswith("2"):
                    for content in answer.get("content", {}).values():
                        if "schema" in content:  # a file has none
                            yield content["schema"]


def _require_every_property(document: dict[str, Any], roots: list[Any]) -> None:
    """Every field of what a view answers is always there (null when it has no value), so
    the document says so; the spec test then catches a response that leaves one out."""
    components = document["components"]["schemas"]
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in seen:
                    seen.add(name)
                    component = components[name]
                    if "properties" in component:
                        component["required"] = sorted(component["properties"])
                    pending.append(component)
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^0-9A-Za-z]+", name))
