"""The shared library's pure parts: envelope, schemas, errors, config, times."""
import json
import uuid

import pytest
from marshmallow import fields
from nameko.exceptions import deserialize, serialize

from shared import config as cfg
from shared.entrypoints import signature_error
from shared.envelope import MalformedMessage, make_envelope, parse_envelope, require_time
from shared.errors import Conflict, NotFound, ValidationError
from shared.handlers import ATTEMPTS_HEADER, attempts_so_far
from shared.outbox import confirmed_in_order
from shared.schemas import (
    Email, StrictSchema, Text, decode_cursor, encode_cursor, load, parse_uuid,
)
from shared.settings import Settings
from shared.timeutil import add_months, iso, parse_input_time, parse_iso_datetime


def test_envelope_has_the_contract_shape():
    envelope = make_envelope("members", "member_activated", {"id": "x"})
    assert set(envelope) == {"event_id", "event_type", "occurred_at", "producer",
                             "schema_version", "data"}
    uuid.UUID(envelope["event_id"])
    assert envelope["occurred_at"].endswith("+00:00")
    assert parse_envelope(envelope, "member_activated") is envelope


@pytest.mark.parametrize("mutate, reason", [
    (lambda e: e.pop("event_id"), "event_id"),
    (lambda e: e.update(event_id="not-a-uuid"), "UUID"),
    (lambda e: e.update(data=[1]), "data"),
    (lambda e: e.update(event_type="other"), "event_type"),
    (lambda e: e.update(occurred_at="yesterday"), "occurred_at"),
    (lambda e: e.update(schema_version="1"), "schema_version"),
])
def test_malformed_envelopes_are_refused_with_the_reason(mutate, reason):
    envelope = make_envelope("members", "member_activated", {})
    mutate(envelope)
    with pytest.raises(MalformedMessage, match=reason):
        parse_envelope(envelope, "member_activated")
    with pytest.raises(MalformedMessage):
        parse_envelope("not a dict")


def test_a_time_in_a_message_is_read_or_the_message_parked():
    """require_time: a time a handler cannot read makes the message malformed (parked
    at once, the field named), not a ValidationError (retried as if it could pass)."""
    assert iso(require_time({"updated_at": "2026-03-01T08:00:00+08:00"}, "updated_at")) == \
        "2026-03-01T00:00:00+00:00"
    for bad in ("soon", 42, None, "9" * 100, "0001-01-01T00:00:00+14:00"):
        with pytest.raises(MalformedMessage, match="^updated_at is not an ISO 8601 time$"):
            require_time({"updated_at": bad}, "updated_at")


class Sample(StrictSchema):
    name = Text(min_length=2, max_length=10, required=True)
    count = fields.Integer(strict=True)


def test_load_rejects_unknown_fields_and_names_every_problem():
    with pytest.raises(ValidationError) as caught:
        load(Sample(), {"name": "x", "count": "3", "admin": True})
    assert set(caught.value.errors) == {"name", "count", "admin"}
    assert caught.value.errors["admin"] == ["Unknown field."]
    assert json.loads(str(caught.value)) == caught.value.errors


def test_text_refuses_unpaired_surrogates_and_email_is_measured_after_lowercasing():
    with pytest.raises(ValidationError, match="surrogate"):
        load(Sample(), {"name": "Ab\ud800cd"})

    class WithEmail(StrictSchema):
        email = Email()

    long_when_lowered = "\u0130" * 130 + "@example.com"  # İ lower-cases to two characters
    with pytest.raises(ValidationError) as caught:
        load(WithEmail(), {"email": long_when_lowered})
    assert "email" in caught.value.errors
    assert load(WithEmail(), {"email": "Siti@Example.ID"}) == {"email": "siti@example.id"}


def test_times_out_of_range_are_validation_errors():
    for value in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-10:00"):
        with pytest.raises(ValidationError, match="now"):
            parse_iso_datetime(value, "now")


def test_only_the_leading_run_of_confirms_counts_as_sent():
    assert confirmed_in_order([1, 2, 3, 4], {1, 2, 3, 4}) == [1, 2, 3, 4]
    assert confirmed_in_order([1, 2, 3, 4], {1, 2, 4}) == [1, 2]  # 3 nacked: 4 waits
    assert confirmed_in_order([5, 6], {6}) == []


def test_attempt_headers_we_did_not_write_are_recognised():
    assert attempts_so_far({}) == 0
    assert attempts_so_far({ATTEMPTS_HEADER: 2}) == 2
    for garbage in ("2", -1, None, True, 2.5):
        assert attempts_so_far({ATTEMPTS_HEADER: garbage}) is None


def test_load_trims_text_and_refuses_control_characters_and_non_dicts():
    assert load(Sample(), {"name": "  Ani  "}) == {"name": "Ani"}
    with pytest.raises(ValidationError, match="control"):
        load(Sample(), {"name": "A\x00ni"})
    with pytest.raises(ValidationError) as caught:
        load(Sample(), ["name"], field_name="data")
    assert caught.value.errors == {"data": ["Must be an object (a dict)."]}


def test_errors_travel_over_rpc_as_themselves():
    for error in (ValidationError({"email": ["Taken."]}), NotFound("no member"), Conflict("no")):
        back = deserialize(serialize(error))
        assert type(back) is type(error) and str(back) == str(error)
    assert serialize(ValidationError({"x": ["y"]}))["exc_type"] == "ValidationError"
    assert deserialize(serialize(ValidationError({"x": ["y"]}))).errors == {"x": ["y"]}


def test_uuid_and_cursor_parsing():
    value = str(uuid.uuid4())
    assert parse_uuid(value.upper(), "member_id") == value
    with pytest.raises(ValidationError, match="member_id"):
        parse_uuid("123", "member_id")
    assert decode_cursor(encode_cursor(["2026-11-28T03:00:00+00:00", value]), 2)[1] == value
    for bad in ("!!!", encode_cursor([1]), 42):
        with pytest.raises(ValidationError, match="cursor"):
            decode_cursor(bad, 2)


def test_signature_errors_name_the_argument():
    def get(self, member_id):
        pass

    assert "member_id" in signature_error(get, [], {}).errors
    assert signature_error(get, [1, 2], {}).errors


def test_times():
    assert iso(parse_iso_datetime("2026-11-28T10:00:00+08:00", "now")) == "2026-11-28T02:00:00+00:00"
    assert iso(parse_iso_datetime("2026-11-28T03:00:00", "now")) == "2026-11-28T03:00:00+00:00"
    with pytest.raises(ValidationError, match="now"):
        parse_iso_datetime("soon", "now")
    moment = parse_iso_datetime("2026-01-31T00:00:00Z", "now")
    assert add_months(moment, 1).day == 28


@pytest.mark.parametrize("text", ["2026-12-05T09:00:00", "2026-12-05", "2026-12-05 09:00"])
def test_a_callers_time_without_an_offset_is_refused_not_guessed(text):
    with pytest.raises(ValidationError) as caught:
        parse_input_time(text, "starts_at")
    assert "UTC offset" in caught.value.errors["starts_at"][0]


def test_a_callers_time_with_an_offset_is_read_in_utc():
    assert iso(parse_input_time("2026-12-05T09:00:00+08:00", "now")) == "2026-12-05T01:00:00+00:00"
    assert iso(parse_input_time("2026-12-05T01:00:00Z", "now")) == "2026-12-05T01:00:00+00:00"
    for bad in ("soon", 42, None, "9" * 100):
        with pytest.raises(ValidationError, match="now"):
            parse_input_time(bad, "now")


def test_db_url_falls_back_to_sqlite_under_var(tmp_path):
    config = {"VAR_DIR": str(tmp_path), "MEMBERS_DB_URL": None}
    assert cfg.db_url(Settings.from_config(config), "members") == \
        f"sqlite:///{tmp_path}/members.db"
    config["MEMBERS_DB_URL"] = "postgresql://members@db/members"
    assert cfg.db_url(Settings.from_config(config), "members") == \
        "postgresql://members@db/members"


def test_config_yml_reads_the_contract_env_vars(monkeypatch):
    monkeypatch.setenv("MEMBERS_DB_URL", "postgresql://m@h/members")
    monkeypatch.setenv("AMQP_URI", "amqp://u:p@broker:5672/")
    monkeypatch.delenv("CERTIFICATION_DB_URL", raising=False)
    config = cfg.load_config()
    assert config["MEMBERS_DB_URL"] == "postgresql://m@h/members"
    settings = Settings.from_config(config)
    assert settings.AMQP_URI == "amqp://u:p@broker:5672/"
    assert cfg.db_url(settings, "certification").endswith("/certification.db")
    assert settings.HANDLER_RETRY_DELAYS_MS == (1000, 5000, 30000, 120000)
    for key in ("WEB_SERVER_ADDRESS", "PUBLIC_BASE_URL", "CERT_SIGNING_KEY_FILE", "SMTP_HOST",
                "SMTP_PORT", "SMTP_FROM", "SMS_WEBHOOK_URL", "EVENTS_DB_URL",
                "NOTIFICATIONS_DB_URL"):
        assert key in config


@pytest.mark.parametrize("remote, forwarded, client", [
    ("198.51.100.7", None, "198.51.100.7"),                    # direct: the connection
    ("198.51.100.7", "203.0.113.1", "198.51.100.7"),           # not a proxy: header ignored
    ("10.0.0.5", "203.0.113.1", "203.0.113.1"),                # the proxy's client
    ("10.0.0.5", "1.2.3.4, 203.0.113.1", "203.0.113.1"),       # a forged left entry ignored
    ("10.0.0.5", "203.0.113.1, 172.16.3.4", "203.0.113.1"),    # through two trusted proxies
    ("10.0.0.5", "172.16.3.4", "10.0.0.5"),                    # only proxies: the connection
    ("10.0.0.5", "not-an-address", "10.0.0.5"),                # garbage: the connection
    ("10.0.0.5", None, "10.0.0.5"),
    ("10.0.0.5", "2001:db8::1", "2001:db8::1"),
])
def test_the_rate_limited_client_behind_trusted_proxies(remote, forwarded, client):
    from shared.web import client_address

    networks = Settings.from_config(
        {"TRUSTED_PROXIES": "10.0.0.5, 172.16.0.0/12"}).TRUSTED_PROXIES
    environ = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        environ["HTTP_X_FORWARDED_FOR"] = forwarded
    assert client_address(environ, networks) == client
    assert client_address(environ, Settings.from_config({}).TRUSTED_PROXIES) == remote


def test_rate_limiter_refills_over_time_per_client():
    from shared.web import RateLimiter

    now = [0.0]
    limiter = RateLimiter(per_minute=60, clock=lambda: now[0])
    assert [limiter.wait_for("a") for _ in range(60)] == [0] * 60
    assert limiter.wait_for("a") == pytest.approx(1.0)
    assert limiter.wait_for("b") == 0  # another client has its own budget
    now[0] += 2.0
    assert limiter.wait_for("a") == 0 and limiter.wait_for("a") == 0
    assert limiter.wait_for("a") > 0
