"""When the members service does not answer, events decides from its own view of
members: a member the view knows is judged by it (a warning is logged); a member
it has never heard of cannot be judged, so the caller gets an InternalError naming
members, quickly, and nothing is written.

events runs alone here, on a vhost of its own with RPC_TIMEOUT_SECONDS=1; its view
is fed by members messages published as members would."""
import time

import pytest
import sqlalchemy as sa
from kombu import Connection, Exchange, Queue
from nameko.standalone.rpc import ClusterRpcProxy

from tests.events.helpers import event_data, member_record, publish_as
from tests.support import ServiceProcess, remote_error, service_env, wait_for_rpc, wait_until


@pytest.fixture
def events_alone(vhost_config, make_database, tmp_path):
    """(rpc, events database, process): events without members."""
    db_url = make_database("events_alone")
    process = ServiceProcess("services.events.service", service_env(
        "events", vhost_config["AMQP_URI"], db_url, tmp_path, RPC_TIMEOUT_SECONDS="1",
        HANDLER_RETRY_DELAYS_MS="200,400"), tmp_path / "events.log").start()
    engine = sa.create_engine(db_url)
    try:
        wait_for_rpc(vhost_config, "events")
        with ClusterRpcProxy(vhost_config, timeout=15) as rpc:
            yield rpc, engine, process
    finally:
        process.stop()
        engine.dispose()


def members_stopped(amqp_uri):
    """The members RPC queue with nobody consuming it: as after members stopped
    (its queue outlives it), so a call waits for the timeout."""
    exchange = Exchange("nameko-rpc", type="topic", durable=True)
    with Connection(amqp_uri) as connection:
        Queue("rpc-members", exchange, routing_key="members.*", durable=True)(
            connection.default_channel).declare()


def view_status(engine, member_id):
    with engine.connect() as connection:
        return connection.execute(sa.text(
            "SELECT status FROM member_views WHERE member_id = :id"), {"id": member_id}).scalar()


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


def timed_error(call, *args):
    started = time.monotonic()
    error = remote_error(call, *args)
    return error, time.monotonic() - started


def test_without_members_the_view_decides_for_the_members_it_knows(
        events_alone, vhost_config):
    rpc, engine, process = events_alone
    event = rpc.events.create_event(event_data(members_only=True))
    event = rpc.events.publish_event(event["id"])
    suspended, active = member_record("suspended"), member_record("active")
    publish_as(vhost_config, "members", "member_suspended", suspended)
    publish_as(vhost_config, "members", "member_activated", active)
    wait_until(lambda: view_status(engine, suspended["id"]) == "suspended"
               and view_status(engine, active["id"]) == "active", message="the view fed")

    unknown = member_record()["id"]
    # No members service ever ran here: nothing to route the call to.
    error, took = timed_error(rpc.events.register, event["id"], unknown)
    assert error.exc_type == "InternalError" and "members" in error.value, error
    assert took < 3
    members_stopped(vhost_config["AMQP_URI"])  # now a call waits for the timeout
    error, took = timed_error(rpc.events.register, event["id"], unknown)
    assert error.exc_type == "InternalError", error
    assert "members.get did not answer within 1s" in error.value
    assert 1 <= took < 3
    assert written_for(engine, event["id"], unknown) == (0, 0)
    assert view_status(engine, unknown) is None

    # The view would refuse, members is asked, does not answer: the view's answer.
    error, took = timed_error(rpc.events.register, event["id"], suspended["id"])
    assert error.exc_type == "Forbidden", error
    assert 1 <= took < 3
    assert written_for(engine, event["id"], suspended["id"]) == (0, 0)
    assert "deciding from the member view" in process.log()

    # The view admits: members is not needed at all.
    assert rpc.events.register(event["id"], active["id"])["status"] == "confirmed"
    assert written_for(engine, event["id"], active["id"]) == (1, 1)
