"""The message catalog: every message the services publish, as an AsyncAPI 3.0.0 document.

Each publishing service describes its messages' ``data`` in ``services/<name>/messages.py``
(marshmallow schemas in ``MESSAGES``, a docstring each). ``json_schema`` turns such a
schema into JSON Schema; ``build_document`` puts the envelope (described once, here),
every message, its channel and its AMQP binding into one document, which
``python -m devtools.asyncapi`` writes to docs/asyncapi.yaml.

The schemas use only keywords that mean the same in draft-07 (the base of AsyncAPI's
Schema Object) and draft 2020-12; ``payload_validator`` checks a received message with
the ``jsonschema`` package (a test requirement, imported only there).
"""
import importlib
from datetime import datetime
from urllib.parse import urlsplit

import marshmallow as ma
from marshmallow import fields, validate

from shared import schemas as shared_schemas
from shared.envelope import ENVELOPE_KEYS, OPTIONAL_ENVELOPE_KEYS, SCHEMA_VERSION
from shared.outbox import events_exchange

ASYNCAPI_VERSION = "3.0.0"
AMQP_BINDING_VERSION = "0.3.0"
# The services that publish messages, in the catalog's order (notifications publishes none).
PUBLISHERS = ("members", "certification", "events")
DOCUMENT_URI = "urn:ekraf-kaltim:asyncapi"

# Field classes in the order they are tried: subclasses before their bases.
_STRING_FORMATS = (
    (fields.UUID, "uuid"),
    (shared_schemas.UUIDString, "uuid"),
    (fields.Email, "email"),
    (shared_schemas.Email, "email"),
    (fields.Url, "uri"),
    (fields.DateTime, "date-time"),  # AwareDateTime and NaiveDateTime too
    (fields.Date, "date"),
)


class ActorSchema(shared_schemas.StrictSchema):
    """Who made the change (see docs/contract.md, "Who may call what")."""

    client = fields.String(required=True, metadata={
        "description": "The calling client's name (`ekraf clients`), or the service's own "
                       "name for a change it made by itself (a timer, a handler)."})
    user_id = fields.String(required=True, allow_none=True, metadata={
        "description": "The person a staff tool acted for (its context data `user_id`), "
                       "else null."})
    on_behalf_of = fields.String(metadata={
        "description": "When a service made the change while serving another's call: "
                       "the client it served."})


class EnvelopeSchema(shared_schemas.StrictSchema):
    """What every message is: the same envelope from every service, around its ``data``."""

    event_id = fields.UUID(required=True, metadata={
        "description": "Unique per message; a redelivery or a duplicate repeats it: "
                       "deduplicate on it. Also the AMQP message_id."})
    event_type = fields.String(required=True, metadata={
        "description": "The message's name; also its routing key and AMQP type."})
    occurred_at = fields.AwareDateTime(required=True, metadata={
        "description": "When the change was made (UTC, ISO 8601 with offset)."})
    producer = fields.String(required=True, validate=validate.OneOf(PUBLISHERS), metadata={
        "description": "The publishing service's nameko name."})
    schema_version = fields.Integer(
        required=True, strict=True, validate=validate.Equal(SCHEMA_VERSION), metadata={
            "description": "Raised only for a change that is not backwards compatible."})
    data = fields.Dict(required=True, metadata={
        "description": "The message's own content: see each message."})
    actor = fields.Nested(ActorSchema, metadata={
        "description": "Who made the change. Added within schema_version 1: messages "
                       "published before it lack it, so do not require it."})


# -- marshmallow -> JSON Schema ---------------------------------------------------------

def json_schema(schema):
    """A marshmallow schema (class or instance) as a JSON Schema object."""
    schema = schema() if isinstance(schema, type) else schema
    properties, required = {}, []
    for name, field in schema.fields.items():
        if field.load_only:
            continue
        key = field.data_key or name
        properties[key] = field_schema(field)
        if field.required:
            required.append(key)
    described = {"type": "object"}
    if vars(type(schema)).get("__doc__"):
        described["description"] = summary(type(schema))
    described["properties"] = properties
    if required:
        described["required"] = required
    described["additionalProperties"] = schema.unknown != ma.RAISE
    return described


def field_schema(field):
    """One marshmallow field as JSON Schema: type and format, its validators, nullability."""
    if isinstance(field, fields.Nested):
        described = json_schema(field.schema)
        if field.many:
            described = {"type": "array", "items": described}
    elif isinstance(field, fields.List):
        described = {"type": "array", "items": field_schema(field.inner)}
    elif isinstance(field, fields.Dict):
        described = {"type": "object"}
    elif isinstance(field, fields.Boolean):
        described = {"type": "boolean"}
    elif isinstance(field, fields.Integer):
        described = {"type": "integer"}
    elif isinstance(field, fields.Number):
        described = {"type": "number"}
    elif isinstance(field, (fields.String, fields.UUID, fields.DateTime, fields.Date)):
        described = {"type": "string"}
        for field_class, string_format in _STRING_FORMATS:
            if isinstance(field, field_class):
                described["format"] = string_format
                break
    else:
        raise TypeError(f"the catalog cannot describe a {type(field).__name__} field")
    for validator in field.validators:
        described.update(_validator_schema(validator, described["type"]))
    if field.allow_none:
        described["type"] = [described["type"], "null"]
        if "enum" in described:
            described["enum"] = [*described["enum"], None]
    description = field.metadata.get("description")
    if description:
        described = {"description": description, **described}
    return described


def _validator_schema(validator, json_type):
    if isinstance(validator, (validate.Email, validate.URL)):
        return {}  # said by the field's format
    if isinstance(validator, validate.OneOf):
        return {"enum": list(validator.choices)}
    if isinstance(validator, validate.Equal):
        return {"const": validator.comparable}
    if isinstance(validator, validate.Regexp):
        return {"pattern": validator.regex.pattern}
    if isinstance(validator, validate.Range):
        described = {}
        if validator.min is not None:
            described["minimum" if validator.min_inclusive else "exclusiveMinimum"] = validator.min
        if validator.max is not None:
            described["maximum" if validator.max_inclusive else "exclusiveMaximum"] = validator.max
        return described
    if isinstance(validator, validate.Length):
        low, high = ("minItems", "maxItems") if json_type == "array" else ("minLength", "maxLength")
        if validator.equal is not None:
            return {low: validator.equal, high: validator.equal}
        return {key: value for key, value in ((low, validator.min), (high, validator.max))
                if value is not None}
    raise TypeError(f"the catalog cannot describe the validator {validator!r}")


def summary(schema_class):
    """A message's one-line description: the first line of its schema's docstring."""
    doc = vars(schema_class).get("__doc__")
    if not doc or not doc.strip():
        raise ValueError(f"{schema_class.__name__} needs a docstring: its message's description")
    return doc.strip().splitlines()[0]


# -- the AsyncAPI document ----------------------------------------------------------------

def published_messages():
    """``{service: {event_type: schema class}}`` from each publisher's messages module."""
    return {service: importlib.import_module(f"services.{service}.messages").MESSAGES
            for service in PUBLISHERS}


def build_document(catalog=None):
    """The AsyncAPI 3.0.0 document of every message (a plain dict, in a stable order)."""
    catalog = published_messages() if catalog is None else catalog
    envelope = json_schema(EnvelopeSchema)
    if set(envelope["properties"]) != ENVELOPE_KEYS | OPTIONAL_ENVELOPE_KEYS:
        raise AssertionError("EnvelopeSchema and shared.envelope disagree on the envelope's keys")
    schemas = {"Envelope": envelope}
    channels, operations, messages = {}, {}, {}
    for service, service_messages in catalog.items():
        for event_type, schema_class in service_messages.items():
            data_name = schema_class.__name__
            if event_type in messages or data_name in schemas:
                raise ValueError(f"{event_type} ({data_name}) is in the catalog twice")
            schemas[data_name] = json_schema(schema_class)
            messages[event_type] = _message(service, event_type, schema_class)
            channels[event_type] = _channel(service, event_type)
            operations[event_type] = _operation(service, event_type, schema_class)
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": DOCUMENT_URI,
        "info": {
            "title": "EKRAF Kaltim platform messages",
            "version": f"{SCHEMA_VERSION}.0.0",
            "description": INFO_DESCRIPTION,
        },
        "defaultContentType": "application/json",
        "servers": {
            "rabbitmq": {
                "host": "localhost:5672",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": "The RabbitMQ broker every service uses (`AMQP_URI`); in "
                               "docker-compose `rabbitmq:5672`, vhost `/`.",
                "security": [{"$ref": "#/components/securitySchemes/rabbitmqLogin"}],
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": schemas,
            "messages": messages,
            "securitySchemes": {
                "rabbitmqLogin": {
                    "type": "userPassword",
                    "description": "A RabbitMQ login of your own, allowed to declare and read "
                                   "your queues and bind them to the `<service>.events` "
                                   "exchanges you listen to (docs/operations.md).",
                },
            },
        },
    }


INFO_DESCRIPTION = """\
Every message the members, certification and events services publish.

Each service publishes its messages to its own topic exchange, `<service>.events`
(durable), with the routing key = the event type, persistent (delivery mode 2),
content type `application/json`, AMQP `message_id` = `event_id` and `type` = the
event type: exactly what nameko's `EventDispatcher` sends, so a nameko
`@event_handler("<service>", "<event_type>")` receives it. Publishing goes through a
transactional outbox: a committed change always gets its message.

To subscribe, bind a durable queue of your own to the exchange with the event type as
routing key (nameko's `@event_handler` declares `evt-<service>-<event_type>--<your
service>.<method>` and binds it at start). RabbitMQ drops a message no queue is bound
for: your queue must exist before the messages you want are published.

Delivery is at least once and not strictly ordered: deduplicate on `event_id`, and do
not let an older message undo a newer state (compare `updated_at` or the status).
Every payload is the envelope (`components/schemas/Envelope`) around the message's
`data`. Within `schema_version` 1 fields are only ever added, never renamed, removed or
retyped; the schemas here list every field there is today (`additionalProperties:
false`), so read leniently in production. How to subscribe: docs/subscribing.md.
"""


def _title(event_type):
    return event_type.replace("_", " ").capitalize()


def _message(service, event_type, schema_class):
    return {
        "name": event_type,
        "title": _title(event_type),
        "summary": summary(schema_class),
        "contentType": "application/json",
        "payload": {"allOf": [
            {"$ref": "#/components/schemas/Envelope"},
            {"type": "object", "properties": {
                "event_type": {"const": event_type},
                "producer": {"const": service},
                "data": {"$ref": f"#/components/schemas/{schema_class.__name__}"},
            }},
        ]},
        "bindings": {"amqp": {"contentEncoding": "utf-8", "messageType": event_type,
                              "bindingVersion": AMQP_BINDING_VERSION}},
    }


def _channel(service, event_type):
    exchange = events_exchange(service)
    return {
        "address": event_type,
        "title": f"{service}: {event_type}",
        "description": f"Routing key `{event_type}` on the topic exchange `{exchange}`. "
                       f"Bind a durable queue of your own to `{exchange}` with this routing "
                       f"key; nameko: `@event_handler(\"{service}\", \"{event_type}\")`.",
        "messages": {event_type: {"$ref": f"#/components/messages/{event_type}"}},
        "bindings": {"amqp": {
            "is": "routingKey",
            "exchange": {"name": exchange, "type": "topic", "durable": True,
                         "autoDelete": False, "vhost": "/"},
            "bindingVersion": AMQP_BINDING_VERSION,
        }},
    }


def _operation(service, event_type, schema_class):
    return {
        "action": "send",
        "channel": {"$ref": f"#/channels/{event_type}"},
        "title": f"{service} publishes {event_type}",
        "summary": summary(schema_class),
        "messages": [{"$ref": f"#/channels/{event_type}/messages/{event_type}"}],
        "bindings": {"amqp": {"deliveryMode": 2, "mandatory": False,
                              "bindingVersion": AMQP_BINDING_VERSION}},
    }


# -- checking a received message against the document ---------------------------------

def payload_validator(document, event_type):
    """A ``jsonschema`` validator of ``event_type``'s whole message (envelope and data),
    checking formats too (date-time with an offset, uuid, email, uri)."""
    from jsonschema import Draft202012Validator, FormatChecker
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    if event_type not in document["components"]["messages"]:
        raise KeyError(f"{event_type} is not in the catalog")
    registry = Registry().with_resource(
        DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT202012))
    checker = FormatChecker(["uuid", "email"])
    checker.checks("date-time", raises=ValueError)(_is_date_time)
    checker.checks("uri", raises=ValueError)(_is_uri)
    return Draft202012Validator(
        {"$ref": f"{DOCUMENT_URI}#/components/messages/{event_type}/payload"},
        registry=registry, format_checker=checker)


def _is_date_time(value):
    if not isinstance(value, str):
        return True  # formats apply to strings only; the type is checked elsewhere
    if "T" not in value:
        return False
    return datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None


def _is_uri(value):
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme and parts.netloc)
