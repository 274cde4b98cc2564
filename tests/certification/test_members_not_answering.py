"""When the members service does not answer, certification decides from its own
view of members: a member the view knows is judged by it (a warning is logged);
a member it has never heard of cannot be judged, so the caller gets an
InternalError naming members, quickly, and nothing is written.

certification runs alone here, on a vhost of its own with RPC_TIMEOUT_SECONDS=1;
its view is fed by members messages published as members would."""
import time

import pytest
import sqlalchemy as sa
from kombu import Connection, Exchange, Queue
from nameko.standalone.rpc import ClusterRpcProxy

from tests.certification.helpers import (
    make_assessor, make_scheme, make_session, member_record, publish_as,
)
from tests.support import ServiceProcess, remote_error, service_env, wait_for_rpc, wait_until


@pytest.fixture
def certification_alone(vhost_config, make_database, tmp_path):
    """(rpc, certification database, process): certification without members."""
    db_url = make_database("certification_alone")
    process = ServiceProcess("services.certification.service", service_env(
        "certification", vhost_config["AMQP_URI"], db_url, tmp_path, RPC_TIMEOUT_SECONDS="1",
        HANDLER_RETRY_DELAYS_MS="200,400"), tmp_path / "certification.log").start()
    engine = sa.create_engine(db_url)
    try:
        wait_for_rpc(vhost_config, "certification")
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


def written_for(engine, member_id):
    """(applications of the member, application messages about them in the outbox)."""
    with engine.connect() as connection:
        applications = connection.execute(sa.text(
            "SELECT count(*) FROM applications WHERE member_id = :m"), {"m": member_id}).scalar()
        messages = connection.execute(sa.text(
            "SELECT count(*) FROM outbox_messages WHERE event_type = 'application_submitted' "
            "AND payload LIKE :m"), {"m": f"%{member_id}%"}).scalar()
    return applications, messages


def timed_error(call, *args):
    started = time.monotonic()
    error = remote_error(call, *args)
    return error, time.monotonic() - started


def test_without_members_the_view_decides_for_the_members_it_knows(
        certification_alone, vhost_config):
    rpc, engine, process = certification_alone
    scheme = make_scheme(rpc)
    assessment = make_session(rpc, scheme, [make_assessor(rpc, [scheme["code"]])])
    suspended, active = member_record("suspended"), member_record("active")
    publish_as(vhost_config, "members", "member_suspended", suspended)
    publish_as(vhost_config, "members", "member_activated", active)
    wait_until(lambda: view_status(engine, suspended["id"]) == "suspended"
               and view_status(engine, active["id"]) == "active", message="the view fed")

    def application(member_id):
        return {"member_id": member_id, "scheme_code": scheme["code"],
                "session_id": assessment["id"]}

    unknown = member_record()["id"]
    # No members service ever ran here: nothing to route the call to.
    error, took = timed_error(rpc.certification.apply, application(unknown))
    assert error.exc_type == "InternalError" and "members" in error.value, error
    assert took < 3
    members_stopped(vhost_config["AMQP_URI"])  # now a call waits for the timeout
    error, took = timed_error(rpc.certification.apply, application(unknown))
    assert error.exc_type == "InternalError", error
    assert "members.get did not answer within 1s" in error.value
    assert 1 <= took < 3
    assert written_for(engine, unknown) == (0, 0)
    assert view_status(engine, unknown) is None
    assert rpc.certification.get_session(assessment["id"])["seats_taken"] == 0

    # The view says suspended, members is asked, does not answer: the view's answer.
    error, took = timed_error(rpc.certification.apply, application(suspended["id"]))
    assert error.exc_type == "Forbidden", error
    assert 1 <= took < 3
    assert written_for(engine, suspended["id"]) == (0, 0)
    assert "deciding from the member view" in process.log()
    # An assessor linked to a member the view knows: the link names a real member.
    linked = make_assessor(rpc, [scheme["code"]], member_id=suspended["id"])
    assert linked["member_id"] == suspended["id"]
    assert remote_error(lambda: make_assessor(rpc, [scheme["code"]], member_id=unknown)
                        ).exc_type == "InternalError"

    # The view says active: members is not needed at all.
    assert rpc.certification.apply(application(active["id"]))["status"] == "submitted"
    assert written_for(engine, active["id"]) == (1, 1)
    assert rpc.certification.get_session(assessment["id"])["seats_taken"] == 1
