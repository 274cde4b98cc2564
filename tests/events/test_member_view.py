"""What events learns from the members messages changes who may register: a
suspension, a change of subsector, late, repeated and malformed messages, between
running services. Deciding from the view (trusted when it admits, else checked with
members) is tested in-process in tests/usecases/test_events_member_view.py; here,
only that the running members service is really asked."""
from datetime import datetime, timedelta

import sqlalchemy as sa

from tests.support.broker import parked_at_first_attempt, publish_as
from tests.support.calls import remote_error
from tests.support.factories import make_event, make_member, member_record
from tests.support.member_view import times_skipped_as_applied
from tests.support.waiting import wait_until


def view_of(events_db, member_id):
    """``(status, subsector)`` as events knows the member, or None."""
    with events_db.connect() as connection:
        row = connection.execute(
            sa.text("SELECT status, subsector FROM member_views WHERE member_id = :id"),
            {"id": member_id}).first()
    return tuple(row) if row else None


def later(record, minutes):
    return (datetime.fromisoformat(record["updated_at"]) + timedelta(minutes=minutes)).isoformat()


def test_a_suspension_closes_members_only_events_until_reinstatement(
        erpc, base_config, events_db, events_service, member_messages):
    member = make_member(erpc)
    event = make_event(erpc, members_only=True)
    erpc.members.suspend(member["id"], "Iuran tahunan belum dibayar")
    wait_until(lambda: view_of(events_db, member["id"]) == ("suspended", "kuliner"))
    assert remote_error(erpc.events.register, event["id"], member["id"]).exc_type == "Forbidden"

    erpc.members.reinstate(member["id"])
    wait_until(lambda: view_of(events_db, member["id"]) == ("active", "kuliner"))
    # The suspension again, late and twice: it must change nothing.
    [suspension] = member_messages.wait_for("member_suspended", id=member["id"])
    for _ in range(2):
        publish_as(base_config, "members", "member_suspended", suspension["data"],
                   envelope=suspension)
    # Both copies recognised as applied already (not merely older than the view).
    wait_until(lambda: times_skipped_as_applied(events_service, "on_member_suspended",
                                                suspension) == 2, message="both copies skipped")
    assert view_of(events_db, member["id"]) == ("active", "kuliner")
    assert erpc.events.register(event["id"], member["id"])["status"] == "confirmed"


def test_a_subsector_change_moves_the_member_between_events(
        erpc, base_config, events_db, events_service):
    member = make_member(erpc, subsector="kuliner")
    for_cooks = make_event(erpc, subsectors=["kuliner"])
    for_musicians = make_event(erpc, subsectors=["musik"])
    for_photographers = make_event(erpc, subsectors=["fotografi"])
    wait_until(lambda: view_of(events_db, member["id"]) == ("active", "kuliner"))

    # members.update_profile cannot change a subsector; these stand for a future
    # members that can: each newer than the last, the first delivered twice.
    to_music = publish_as(base_config, "members", "member_updated", {
        **member, "subsector": "musik", "updated_at": later(member, 1),
        "changed_fields": ["subsector"]})
    publish_as(base_config, "members", "member_updated", to_music["data"], envelope=to_music)
    wait_until(lambda: view_of(events_db, member["id"]) == ("active", "musik"))
    publish_as(base_config, "members", "member_updated", {
        **member, "subsector": "fotografi", "updated_at": later(member, 2),
        "changed_fields": ["subsector"]})
    wait_until(lambda: view_of(events_db, member["id"]) == ("active", "fotografi"))
    publish_as(base_config, "members", "member_updated", to_music["data"], envelope=to_music)
    wait_until(lambda: times_skipped_as_applied(events_service, "on_member_updated",
                                                to_music) == 2, message="both copies skipped")
    assert view_of(events_db, member["id"]) == ("active", "fotografi")

    # members still says kuliner, but that answer is older than the view: refused.
    for event in (for_cooks, for_musicians):
        assert remote_error(erpc.events.register, event["id"], member["id"]).exc_type == "Forbidden"
    assert erpc.events.register(for_photographers["id"], member["id"])["status"] == "confirmed"


def test_a_member_events_has_not_heard_of_is_asked_for(erpc, events_db):
    """The one place events' members proxy is seen asking the running members service
    and using its answer (the rule itself, and a view that would refuse, are tested
    in-process with a stub in tests/usecases/test_events_member_view.py)."""
    member = make_member(erpc)
    event = make_event(erpc)
    wait_until(lambda: view_of(events_db, member["id"]) == ("active", "kuliner"))  # all arrived
    with events_db.begin() as connection:  # as if no members message had arrived
        connection.execute(sa.text("DELETE FROM member_views WHERE member_id = :id"),
                           {"id": member["id"]})
    assert erpc.events.register(event["id"], member["id"])["status"] == "confirmed"
    assert view_of(events_db, member["id"]) == ("active", "kuliner")


def test_a_repeated_member_message_is_skipped_not_reapplied(
        erpc, base_config, events_db, events_service, member_messages):
    member = make_member(erpc)
    erpc.members.suspend(member["id"], "audit")
    [suspension] = member_messages.wait_for("member_suspended", id=member["id"])
    wait_until(lambda: view_of(events_db, member["id"]) == ("suspended", "kuliner"))
    # Mark the view by hand, at the same version: the same message applied again
    # would overwrite the mark (newest updated_at wins, ties included); skipped, it
    # leaves it.
    with events_db.begin() as connection:
        connection.execute(sa.text("UPDATE member_views SET status = 'marked' "
                                   "WHERE member_id = :id"), {"id": member["id"]})
    publish_as(base_config, "members", "member_suspended", suspension["data"],
               envelope=suspension)
    wait_until(lambda: times_skipped_as_applied(events_service, "on_member_suspended",
                                                suspension) == 1, message="the copy skipped")
    assert view_of(events_db, member["id"]) == ("marked", "kuliner")


def test_a_members_message_lacking_a_needed_field_is_parked_at_once(
        erpc, base_config, events_db):
    """events' member view checks its fields before writing (shared.envelope's
    require_fields): the message is parked at the first attempt, naming the field."""
    record = member_record()
    del record["subsector"]
    envelope = publish_as(base_config, "members", "member_updated", record)
    parked_at_first_attempt(base_config, envelope, "events.dead-letter",
                            "MalformedMessage: data lacks subsector")
    assert view_of(events_db, record["id"]) is None


def test_a_members_message_with_an_unreadable_updated_at_is_parked_at_once(
        erpc, base_config, events_db):
    """shared.envelope.require_time: a time that cannot be read never will be, so
    the message is parked at the first attempt naming the field, not retried."""
    record = member_record(updated_at="soon")
    envelope = publish_as(base_config, "members", "member_activated", record)
    parked_at_first_attempt(base_config, envelope, "events.dead-letter",
                            "MalformedMessage: updated_at is not an ISO 8601 time")
    assert view_of(events_db, record["id"]) is None
