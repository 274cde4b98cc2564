"""Hostile and random input to every RPC method of every service (hypothesis):
the only outcomes allowed are a result or one of the contract's four errors.
Never another exception (no InternalError, no KeyError, no SQL error), and the
services keep answering afterwards."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nameko.exceptions import RemoteError

from shared.errors import ContractError
from tests.support.broker import raw_rpc
from tests.support.waiting import wait_until

ALLOWED = {"ValidationError", "NotFound", "Conflict", "Forbidden"}

NASTY_STRINGS = [
    "", " ", "\x00", "a\x00b", "\ud800", "é" * 5000, "x" * 100_000, "'; DROP TABLE members; --",
    "' OR '1'='1", "${7*7}", "{{7*7}}", "$full_name", "%s%s%s", "../../etc/passwd",
    "<script>alert(1)</script>", "00000000-0000-0000-0000-000000000000", "NaN", "-1",
    "2026-13-45T99:99:99+99:00", "0001-01-01T00:00:00+14:00", "EKRAF-2026-000001",
    "CRT-2026-AAAA-AAAA-AAAA", "DKV-JUNIOR", "kuliner", "Balikpapan", "\u202e\u0130\U0001f600",
]
FIELD_NAMES = [
    "full_name", "email", "phone", "city", "subsector", "province", "business_name", "nib",
    "locale", "status", "q", "limit", "cursor", "code", "title", "skkni_ref", "units",
    "validity_months", "requires_training", "registration_number", "scheme_codes", "member_id",
    "scheme_code", "venue", "starts_at", "ends_at", "capacity", "assessor_ids", "session_id",
    "self_assessment", "assessor_id", "notes", "kind", "description", "members_only",
    "subsectors", "registration_closes_at", "unread_only", "channel", "event_type", "email",
    "sms", "announcements", "notification_ids", "starts_after", "starts_before", "unit_code",
    "competent", "__class__", "id",
]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**63, max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(NASTY_STRINGS),
    st.text(max_size=40), st.uuids().map(str),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=10)),
                        children, max_size=5)),
    max_leaves=12,
)
records = st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=8)
argument = st.one_of(json_values, records)

# method -> how many positional arguments it takes. Left out, each for a reason:
LEFT_OUT = {
    "expire_due": "a valid random date would lapse every member of the test run",
    "retry_failed": "a valid random filter would resend other tests' failed deliveries",
    "health": "takes no input",
    "delivery_counts": "takes no input",
    "stats": "takes no input (members' bad-input table covers stray arguments)",
    "list_subsectors": "takes no input (members' bad-input table covers stray arguments)",
}
METHODS = {
    "members": {"register": 1, "get": 1, "get_by_number": 1, "list": 1, "update_profile": 2,
                "activate": 1, "suspend": 2, "reinstate": 1, "renew": 1, "audit_log": 1},
    "certification": {"create_scheme": 1, "get_scheme": 1, "list_schemes": 1,
                      "register_assessor": 1, "get_assessor": 1, "list_assessors": 1,
                      "schedule_session": 1, "get_session": 1, "list_sessions": 1, "apply": 1,
                      "get_application": 1, "list_applications": 1, "record_result": 2,
                      "get_certificate": 1, "list_certificates": 1, "verify": 1,
                      "suspend_certificate": 2, "reinstate_certificate": 1, "revoke": 2,
                      "audit_log": 1},
    "events": {"create_event": 1, "publish_event": 1, "cancel_event": 2, "get_event": 1,
               "list_events": 1, "register": 2, "cancel_registration": 2, "check_in": 2,
               "list_registrations": 2, "audit_log": 1},
    "notifications": {"list_inbox": 2, "mark_read": 2, "get_preferences": 1,
                      "set_preferences": 2, "list_deliveries": 1, "retry_delivery": 1,
                      "audit_log": 1},
}
CALLS = [(service, method, arity) for service, methods in METHODS.items()
         for method, arity in methods.items()]


@pytest.fixture(scope="module")
def all_services(rpc, certification_service, events_service, notifications_service):
    return rpc


def rpc_methods(service):
    """The names of a service's RPC methods, read from its class."""
    import importlib
    import inspect

    from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

    from shared.entrypoints import ContractRpc

    module = importlib.import_module(f"services.{service}.service")
    [service_cls] = [value for value in vars(module).values()
                     if inspect.isclass(value) and getattr(value, "name", None) == service]
    return {name for name, member in inspect.getmembers(service_cls)
            if any(isinstance(extension, ContractRpc)
                   for extension in getattr(member, ENTRYPOINT_EXTENSIONS_ATTR, ()))}


@pytest.mark.parametrize("service", sorted(METHODS))
def test_every_rpc_method_is_here_or_left_out_with_a_reason(service):
    """A new method gets hostile input too, unless it is left out on purpose."""
    assert rpc_methods(service) - set(LEFT_OUT) == set(METHODS[service])


@pytest.mark.parametrize("service, method, arity", CALLS,
                         ids=[f"{s}.{m}" for s, m, _ in CALLS])
def test_hostile_arguments_get_a_result_or_a_contract_error(all_services, service, method,
                                                            arity):
    call = getattr(getattr(all_services, service), method)

    @settings(max_examples=15, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(argument, min_size=arity, max_size=arity))
    def check(arguments):
        try:
            call(*arguments)
        except RemoteError as error:
            assert error.exc_type in ALLOWED, (error.exc_type, error.value, arguments)
        except ContractError as error:
            assert type(error).__name__ in ALLOWED, (type(error).__name__, str(error), arguments)

    check()
    # The service still answers, promptly, as it should.
    try:
        call(*(["00000000-0000-0000-0000-000000000000"] * arity))
    except RemoteError as error:
        assert error.exc_type in ALLOWED
    except ContractError as error:
        assert type(error).__name__ in ALLOWED


# -- bodies that are not JSON we can read ----------------------------------------------

UNREADABLE = '{"args": [' + "[" * 100_000 + "]" * 100_000 + '], "kwargs": {}, "marker": "%s"}'


def test_an_unreadable_request_gets_a_validation_error_not_a_timeout(all_services, base_config,
                                                                     members_service):
    """Nested too deeply for Python's JSON decoder: kombu cannot decode it. The caller
    still gets an answer, and the log does not get the body."""
    import uuid

    marker = uuid.uuid4().hex
    error = raw_rpc(base_config["AMQP_URI"], "members.get", UNREADABLE % marker, timeout=15)
    assert error["exc_type"] == "ValidationError" and "_request" in error["value"]
    assert all_services.members.list_subsectors()  # still answering
    assert marker not in members_service.log()  # the body was not logged


@pytest.mark.parametrize("body", [
    "{}", "[]", '"text"', "42", "null", '{"args": []}', '{"kwargs": {}}',
    '{"args": {}, "kwargs": {}}', '{"args": [], "kwargs": []}', '{"args": "ab", "kwargs": {}}',
])
@pytest.mark.parametrize("routing_key", ["members.get", "members.no_such_method"])
def test_a_request_not_shaped_as_nameko_sends_it_gets_a_contract_error(
        all_services, base_config, routing_key, body):
    """Clients other than nameko's proxy may send any JSON: the answer is still one of
    the contract's errors (``_request`` named), never nameko's own MalformedRequest
    or a TypeError."""
    error = raw_rpc(base_config["AMQP_URI"], routing_key, body, timeout=15)
    if routing_key.endswith("no_such_method"):
        assert error["exc_type"] in {"ValidationError", "NotFound"}, error
    else:
        assert error["exc_type"] == "ValidationError", error
        assert "_request" in error["value"], error
    assert all_services.members.list_subsectors()  # still answering


def test_an_unreadable_message_is_parked_with_the_reason(all_services, base_config):
    import uuid

    from kombu import Connection, Exchange, Producer

    marker = uuid.uuid4().hex
    with Connection(base_config["AMQP_URI"]) as connection:
        Producer(connection.channel()).publish(
            UNREADABLE % marker, exchange=Exchange("members.events", "topic", durable=True),
            routing_key="member_registered", content_type="application/json",
            content_encoding="utf-8", serializer=None)

    def parked():
        """Look at notifications' dead letters without taking them (never acked)."""
        with Connection(base_config["AMQP_URI"]) as connection:
            channel = connection.channel()
            while (message := channel.basic_get("notifications.dead-letter")) is not None:
                body = message.body.decode() if isinstance(message.body, bytes) else message.body
                if marker in body:
                    return dict(message.headers)
        return None

    headers = wait_until(parked, timeout=15, message="the unreadable message, parked")
    assert "readable JSON" in headers["x-ekraf-error"]
    assert all_services.notifications.delivery_counts() is not None  # still answering


def test_a_request_without_reply_to_is_dropped_and_the_service_keeps_answering(
        all_services, base_config, members_service):
    """nameko's responder raised KeyError on a request with no reply_to, and that killed
    the whole members service: one bad message from any login allowed members.get."""
    from kombu import Connection, Exchange, Producer

    from tests.support.identities import admin_context

    with Connection(base_config["AMQP_URI"]) as connection:
        Producer(connection.channel()).publish(
            '{"args": ["00000000-0000-4000-8000-000000000000"], "kwargs": {}}',
            exchange=Exchange("nameko-rpc", "topic", durable=True), routing_key="members.get",
            content_type="application/json", content_encoding="utf-8", serializer=None,
            headers={f"nameko.{key}": value for key, value in admin_context().items()})
    wait_until(lambda: "had no reply_to; not answered" in members_service.log(), timeout=15,
               message="members to drop the request")
    assert members_service.process.poll() is None  # still running
    assert all_services.members.list_subsectors()  # and answering
