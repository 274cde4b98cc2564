"""When the members service does not answer, a member events' view has never heard of
cannot be judged: the caller of events.register gets an InternalError naming members,
quickly (at once when no members ever ran, after RPC_TIMEOUT_SECONDS when it stopped),
and nothing is written.

Only running services show this: the real proxy's two failures, their timing and the
text the RPC entrypoint makes of them. The rest is tested in-process with a stub that
does not answer (tests/usecases/test_events_member_view.py): the view deciding for the
members it knows (and the warning it logs), the ServiceTimeout for an unknown member
with nothing written or recorded.

events runs alone here, on a vhost of its own with RPC_TIMEOUT_SECONDS=1."""
import pytest
import sqlalchemy as sa

from tests.support.broker import members_stopped
from tests.support.calls import timed_error
from tests.support.factories import event_data, member_record
from tests.support.member_view import view_status
from tests.support.services import service_alone

# A call that finds nobody to answer fails at once; one left waiting, after the
# 1 s timeout. Upper bounds are generous (a loaded machine is slow): what they catch
# is a call that waits for the 10 s default, or for ever.
TIMEOUT, SLACK = 1, 7


@pytest.fixture
def events_alone(vhost_config, make_database, tmp_path):
    """(rpc, events database, process): events without members."""
    with service_alone("events", vhost_config, make_database, tmp_path) as alone:
        yield alone


def written_for(engine, event_id, member_id):
    """(registrations of the member, registration messages in the outbox)."""
    with engine.connect() as connection:
        registrations = connection.execute(sa.text(
            "SELECT count(*) FROM registrations WHERE event_id = :e AND member_id = :m"),
            {"e": event_id, "m": member_id}).scalar()
        messages = connection.execute(sa.text(
            "SELECT count(*) FROM outbox_messages WHERE event_type LIKE 'registration_%' "
            "AND payload LIKE :m"), {"m": f"%{member_id}%"}).scalar()
    return registrations, messages


def test_without_members_an_unknown_member_is_an_internal_error_naming_members(
        events_alone, vhost_config):
    rpc, engine, _ = events_alone
    event = rpc.events.create_event(event_data(members_only=True))
    event = rpc.events.publish_event(event["id"])

    unknown = member_record()["id"]
    # No members service ever ran here: nothing to route the call to.
    error, took = timed_error(rpc.events.register, event["id"], unknown)
    assert error.exc_type == "InternalError", error
    assert "no members service is running" in error.value  # refused, not waited for
    assert took < TIMEOUT + SLACK
    members_stopped(vhost_config["AMQP_URI"])  # now a call waits for the timeout
    error, took = timed_error(rpc.events.register, event["id"], unknown)
    assert error.exc_type == "InternalError", error
    assert "members.get did not answer within 1s" in error.value
    assert TIMEOUT <= took < TIMEOUT + SLACK
    assert written_for(engine, event["id"], unknown) == (0, 0)
    assert view_status(engine, unknown) is None
