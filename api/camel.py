"""JSON keys are camelCase on the wire and snake_case in Python."""

from __future__ import annotations

from marshmallow import fields

from shared.inputs import InputSchema


def camelcase(name: str) -> str:
    head, *tail = name.split("_")
    return head + "".join(part.title() for part in tail)


class CamelSchema(InputSchema):
    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        field_obj.data_key = camelcase(field_obj.data_key or field_name)
