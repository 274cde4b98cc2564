"""Marshmallow base schema and fields shared by every service.

Every RPC input goes through ``load``: the input must be a dict, unknown fields
are rejected (no mass assignment), and every problem becomes one
``ValidationError`` naming its fields. Nothing is written before that passes.
"""
import base64
import json
import re
import uuid

import marshmallow as ma
from marshmallow import fields, validate

from shared.errors import ValidationError

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
# Control characters other than tab and newlines have no place in user text,
# and PostgreSQL refuses NUL outright.
# Unpaired surrogates cannot be stored (or even encoded as UTF-8).
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")


class StrictSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE


class Text(fields.String):
    """A trimmed string of bounded length with no control characters."""

    def __init__(self, *, min_length=None, max_length=200, **kwargs):
        self.min_length = min_length
        self.max_length = max_length
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ma.ValidationError("Not a valid string.")
        # Check the length before any other work, so a huge string is cheap to refuse.
        if len(value) > self.max_length * 2 + 100:
            raise ma.ValidationError(f"Longer than maximum length {self.max_length}.")
        value = value.strip()
        if _CONTROL_CHARS.search(value):
            raise ma.ValidationError("Contains control characters.")
        if _SURROGATES.search(value):
            raise ma.ValidationError("Contains unpaired surrogates (not valid Unicode text).")
        if self.min_length is not None and len(value) < self.min_length:
            raise ma.ValidationError(
                "Must not be empty." if self.min_length == 1
                else f"Shorter than minimum length {self.min_length}."
            )
        if len(value) > self.max_length:
            raise ma.ValidationError(f"Longer than maximum length {self.max_length}.")
        return value


# A certification scheme code (skema), e.g. DKV-JUNIOR: certification's own, and
# events' trainings name one (events checks the shape; existence is certification's).
SCHEME_CODE = re.compile(r"[A-Z0-9][A-Z0-9-]{1,39}")


class SchemeCode(Text):
    def __init__(self, **kwargs):
        super().__init__(min_length=2, max_length=40, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if not SCHEME_CODE.fullmatch(value):
            raise ma.ValidationError("Upper-case letters, digits and '-', e.g. DKV-JUNIOR.")
        return value


class RuleChecked(Text):
    """Text passed through a domain rule that raises the contract's ValidationError
    (e.g. ``normalize_phone``); its reasons are reported under this field's name."""

    def __init__(self, rule, **kwargs):
        self.rule = rule
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        try:
            return self.rule(value)
        except ValidationError as exc:
            raise ma.ValidationError([reason for reasons in exc.errors.values()
                                      for reason in reasons]) from None


class Email(Text):
    def __init__(self, **kwargs):
        super().__init__(min_length=3, max_length=254, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs).lower()
        if len(value) > self.max_length:  # lower-casing can lengthen some letters (İ)
            raise ma.ValidationError(f"Longer than maximum length {self.max_length}.")
        validate.Email()(value)
        return value


class BoundedList(fields.List):
    """A list whose length is checked before its items are: a million items is
    refused at once instead of being validated one by one."""

    def __init__(self, inner, *, min_length=0, max_length, **kwargs):
        self.min_length, self.max_length = min_length, max_length
        super().__init__(inner, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, list):
            if len(value) > self.max_length:
                raise ma.ValidationError(f"At most {self.max_length} items.")
            if len(value) < self.min_length:
                raise ma.ValidationError(f"At least {self.min_length} item(s).")
        return super()._deserialize(value, attr, data, **kwargs)


class UUIDString(fields.String):
    """A UUID, returned in its canonical lower-case string form."""

    def _deserialize(self, value, attr, data, **kwargs):
        return parse_uuid(value, attr, exc=ma.ValidationError)


class StrictInt(fields.Integer):
    """An integer given as a JSON number: not "3", not 3.0, not true."""

    def __init__(self, low=None, high=None, **kwargs):
        if low is not None or high is not None:
            kwargs.setdefault("validate", validate.Range(min=low, max=high))
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise ma.ValidationError("Not a valid integer.")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictBool(fields.Boolean):
    """true or false, nothing else (not 1, not "yes")."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ma.ValidationError("Not a valid boolean.")
        return value


class Limit(StrictInt):
    def __init__(self, **kwargs):
        super().__init__(low=1, high=MAX_LIMIT, load_default=DEFAULT_LIMIT, **kwargs)


class PageSchema(StrictSchema):
    """``limit`` and ``cursor``: the base of every list method's filters."""

    limit = Limit()
    cursor = fields.String(allow_none=True, load_default=None)


class ReasonSchema(StrictSchema):
    """The ``reason`` of a suspension, revocation or cancellation."""

    reason = Text(min_length=1, max_length=500, required=True)


def parse_uuid(value, field, exc=None):
    """A caller's id as a canonical UUID string, or a ValidationError naming the field."""
    message = "Not a valid UUID."
    if not isinstance(value, str) or len(value) > 64:
        if exc is not None:
            raise exc(message)
        raise ValidationError.field(field, message)
    try:
        return str(uuid.UUID(value))
    except ValueError:
        if exc is not None:
            raise exc(message) from None
        raise ValidationError.field(field, message) from None


def load(schema, data, field_name="data", partial=False):
    """Validate ``data`` against ``schema``; return the clean dict or raise ValidationError."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValidationError.field(field_name, "Must be an object (a dict).")
    try:
        return schema.load(data, partial=partial)
    except ma.ValidationError as exc:
        raise ValidationError(_flatten(exc.messages)) from None


def _flatten(messages):
    """Marshmallow's messages as ``{"field": ["reason", ...]}``."""
    if isinstance(messages, list):
        return {"_schema": [str(message) for message in messages]}
    flat = {}
    for key, value in messages.items():
        if isinstance(value, dict):
            for sub_key, sub_value in _flatten(value).items():
                flat[f"{key}.{sub_key}" if sub_key != "_schema" else key] = sub_value
        else:
            flat[key] = [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return flat


def encode_cursor(values):
    """An opaque page cursor from the sort key of the last item on a page."""
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(cursor, expected_length):
    if cursor is None:
        return None
    try:
        if not isinstance(cursor, str) or len(cursor) > 500:
            raise ValueError
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != expected_length:
            raise ValueError
        return values
    except ValueError:
        raise ValidationError.field("cursor", "Not a valid cursor.") from None
