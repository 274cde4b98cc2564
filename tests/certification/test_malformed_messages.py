"""A message from members or events whose data lacks what certification needs is
parked in certification's dead-letter queue at the first attempt, with the reason
naming the missing field, and changes nothing (not even the record of messages
applied, so that a corrected copy would still be applied)."""
import uuid

import pytest
import sqlalchemy as sa

from shared.handlers import ORIGINAL_QUEUE_HEADER
from tests.support.broker import parked_at_first_attempt, publish_as
from tests.support.factories import in_days, member_record
from tests.support.member_view import view_status


def attendance(**overrides):
    data = {"id": str(uuid.uuid4()), "event_id": str(uuid.uuid4()),
            "member_id": str(uuid.uuid4()), "status": "attended", "kind": "training",
            "scheme_code": "DKV-JUNIOR", "checked_in_at": in_days(-1)}
    data.update(overrides)
    return data


def without(record, field):
    return {key: value for key, value in record.items() if key != field}


@pytest.mark.parametrize("source, event_type, data, field, handler", [
    ("events", "attendance_recorded", without(attendance(), "member_id"), "member_id",
     "on_attendance_recorded"),
    ("events", "attendance_recorded", without(attendance(), "event_id"), "event_id",
     "on_attendance_recorded"),
    ("members", "member_activated", without(member_record(), "id"), "id",
     "on_member_activated"),
    ("members", "member_updated", without(member_record(), "email"), "email",
     "on_member_updated"),
    ("members", "member_registered", without(member_record(), "phone"), "phone",
     "on_member_registered"),
])
def test_a_message_lacking_a_needed_field_is_parked_at_once(
        crpc, base_config, certification_db, source, event_type, data, field, handler):
    envelope = publish_as(base_config, source, event_type, data)
    headers = parked_at_first_attempt(base_config, envelope, "certification.dead-letter",
                                      f"MalformedMessage: data lacks {field}")
    assert headers[ORIGINAL_QUEUE_HEADER].endswith(f"--certification.{handler}")
    with certification_db.connect() as connection:
        assert connection.execute(sa.text(
            "SELECT count(*) FROM processed_messages WHERE event_id = :id"),
            {"id": envelope["event_id"]}).scalar() == 0
        member_id = data.get("member_id") or data.get("id")
        if member_id:
            for table in ("member_views", "training_attendance"):
                assert connection.execute(sa.text(
                    f"SELECT count(*) FROM {table} WHERE member_id = :id"),
                    {"id": member_id}).scalar() == 0


def test_a_members_message_with_an_unreadable_updated_at_is_parked_at_once(
        crpc, base_config, certification_db):
    """shared.envelope.require_time: a time that cannot be read never will be, so
    the message is parked, not retried as if it might pass."""
    record = member_record(updated_at="soon")
    envelope = publish_as(base_config, "members", "member_updated", record)
    headers = parked_at_first_attempt(base_config, envelope, "certification.dead-letter",
                                      "MalformedMessage: updated_at is not an ISO 8601 time")
    assert headers[ORIGINAL_QUEUE_HEADER].endswith("--certification.on_member_updated")
    assert view_status(certification_db, record["id"]) is None
    with certification_db.connect() as connection:
        assert connection.execute(sa.text(
            "SELECT count(*) FROM processed_messages WHERE event_id = :id"),
            {"id": envelope["event_id"]}).scalar() == 0


def test_an_attendance_with_an_unreadable_check_in_time_is_parked_at_once(
        crpc, base_config, certification_db):
    data = attendance(checked_in_at="yesterday")
    envelope = publish_as(base_config, "events", "attendance_recorded", data)
    parked_at_first_attempt(base_config, envelope, "certification.dead-letter",
                            "MalformedMessage: checked_in_at is not an ISO 8601 time")
    with certification_db.connect() as connection:
        assert connection.execute(sa.text(
            "SELECT count(*) FROM training_attendance WHERE member_id = :id"),
            {"id": data["member_id"]}).scalar() == 0
