"""Who may register is decided from events' own view of members, in-process: the view
is fed through the service's members-message handlers (``on_member_*``) and members
is a stub. A view that admits is trusted; one that would refuse, or has not heard of
the member, is checked with members first; when members does not answer, the view
decides for the members it knows, and a member it does not know is an error that
writes nothing.

The RPC tier keeps what needs running services: members messages reaching the view,
repeated ones skipped, malformed ones parked (tests/events/test_member_view.py), the
real proxy asking the real members (tests/events/test_registrations_rpc.py) and the
timeout's error text and timing (tests/events/test_members_not_answering.py).
"""
import logging

import pytest
from sqlalchemy import select

from services.events.models import MemberView
from services.events.service import EventsService
from shared.errors import Forbidden, NotFound
from shared.rpc import ServiceTimeout
from tests.support.factories import member_record
from tests.support.usecases import InWorker, MembersStub, hear, later, new_event


@pytest.fixture
def members():
    return MembersStub()


@pytest.fixture
def events(session_of, members):
    return InWorker(EventsService, session_of("events"), members=members)


def view_of(events, member_id):
    """``(status, subsector)`` as events knows the member, or None."""
    row = events.session.execute(select(MemberView.status, MemberView.subsector)
                                 .where(MemberView.member_id == member_id)).first()
    return tuple(row) if row else None


def registrations(events, event):
    return events.list_registrations(event["id"])["items"]


def test_the_handlers_keep_the_newest_record(events):
    record = member_record("pending")
    hear(events, "members", "member_registered", record)
    assert view_of(events, record["id"]) == ("pending", "kuliner")
    activated = {**record, "status": "active", "updated_at": later(record)}
    hear(events, "members", "member_activated", activated)
    assert view_of(events, record["id"]) == ("active", "kuliner")
    hear(events, "members", "member_updated", {**record, "subsector": "musik"})  # older: changes nothing
    assert view_of(events, record["id"]) == ("active", "kuliner")
    assert events.outbox.messages == []  # the view is events' own: it tells nobody


def test_a_view_that_admits_is_trusted_without_asking_members(events, members):
    member = member_record("active")  # members does not even know it: never asked
    hear(events, "members", "member_activated", member)
    event = new_event(events, members_only=True)
    assert events.register(event["id"], member["id"])["status"] == "confirmed"
    assert members.asked == []


def test_a_view_that_would_refuse_is_checked_with_members_first(events, members):
    pending = member_record("pending")
    hear(events, "members", "member_registered", pending)  # the activation has not arrived yet
    members.add({**pending, "status": "active", "updated_at": later(pending)})
    event = new_event(events, members_only=True)
    registration = events.register(event["id"], pending["id"])
    assert registration["status"] == "confirmed"
    assert members.asked == [pending["id"]]
    assert view_of(events, pending["id"]) == ("active", "kuliner")  # members' answer kept


def test_a_member_events_has_not_heard_of_is_asked_for(events, members):
    member = members.add(member_record("active"))
    event = new_event(events)
    assert view_of(events, member["id"]) is None
    registration = events.register(event["id"], member["id"])
    assert registration["status"] == "confirmed"
    assert members.asked == [member["id"]]
    assert view_of(events, member["id"]) == ("active", "kuliner")


def test_an_answer_older_than_the_view_does_not_overwrite_it(events, members):
    """members says kuliner, but the view heard of a later change to fotografi."""
    member = members.add(member_record("active", subsector="kuliner"))
    hear(events, "members", "member_updated", {**member, "subsector": "fotografi",
                                    "updated_at": later(member)})
    for_cooks = new_event(events, subsectors=["kuliner"])
    for_photographers = new_event(events, subsectors=["fotografi"])
    with pytest.raises(Forbidden) as raised:
        events.register(for_cooks["id"], member["id"])
    assert str(raised.value) == "this event is for kuliner, not fotografi"
    assert members.asked == [member["id"]]
    assert view_of(events, member["id"]) == ("active", "fotografi")
    assert events.register(for_photographers["id"], member["id"])["status"] == "confirmed"
    assert members.asked == [member["id"]]  # the view admits: not asked again


def test_a_member_the_view_knows_but_members_does_not_is_not_found(events, members):
    record = member_record("pending")
    hear(events, "members", "member_registered", record)
    event = new_event(events, members_only=True)
    recorded = list(events.outbox.messages)
    with pytest.raises(NotFound) as raised:
        events.register(event["id"], record["id"])
    assert str(raised.value) == f"no member {record['id']}"
    assert registrations(events, event) == []
    assert events.outbox.messages == recorded


# -- members not answering --------------------------------------------------------------

def test_without_members_the_view_decides_for_the_members_it_knows(events, members, caplog):
    suspended, active = member_record("suspended"), member_record("active")
    hear(events, "members", "member_suspended", suspended)
    hear(events, "members", "member_activated", active)
    event = new_event(events, members_only=True)
    members.answering = False
    recorded = list(events.outbox.messages)

    # The view would refuse, members is asked, does not answer: the view's answer.
    with caplog.at_level(logging.WARNING, logger="shared.member_view"):
        with pytest.raises(Forbidden) as raised:
            events.register(event["id"], suspended["id"])
    assert str(raised.value) == "this event is for active members; the member is suspended"
    assert members.asked == [suspended["id"]]
    assert [record.getMessage() for record in caplog.records
            if record.name == "shared.member_view"] == [
        f"members did not answer about member {suspended['id']} (members.get did not "
        "answer within 1s); deciding from the member view, which says suspended"]
    assert events.outbox.messages == recorded

    # The view admits: members is not needed at all.
    registration = events.register(event["id"], active["id"])
    assert registration["status"] == "confirmed"
    assert members.asked == [suspended["id"]]
    assert registrations(events, event) == [registration]
    assert events.outbox.types()[len(recorded):] == ["registration_confirmed"]


def test_without_members_an_unknown_member_is_an_error_and_nothing_is_written(events, members):
    event = new_event(events, members_only=False)
    members.add(member_record("active"))  # known to members, but it does not answer
    unknown = next(iter(members.records))
    members.answering = False
    recorded = list(events.outbox.messages)

    with pytest.raises(ServiceTimeout) as raised:
        events.register(event["id"], unknown)
    assert str(raised.value) == "members.get did not answer within 1s"
    assert members.asked == [unknown]
    assert registrations(events, event) == []
    assert events.get_event(event["id"]) == event
    assert view_of(events, unknown) is None
    assert events.outbox.messages == recorded
