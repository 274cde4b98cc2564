"""When the members service does not answer, certification decides from its own
view of members: a member the view knows is judged by it (a warning is logged);
a member it has never heard of cannot be judged, so the caller gets an
InternalError naming members, quickly, and nothing is written.

certification runs alone here, on a vhost of its own with RPC_TIMEOUT_SECONDS=1;
its view is fed by members messages published as members would."""
import pytest
import sqlalchemy as sa

from tests.support.broker import members_stopped
from tests.support.calls import remote_error, timed_error
from tests.support.factories import (
    make_assessor,
    make_scheme,
    make_session,
    member_record,
)
from tests.support.member_view import feed_member_view, view_status
from tests.support.services import service_alone

# A call that finds nobody to answer fails at once; one left waiting, after the
# 1 s timeout. Upper bounds are generous (a loaded machine is slow): what they catch
# is a call that waits for the 10 s default, or for ever.
TIMEOUT, SLACK = 1, 7


@pytest.fixture
def certification_alone(vhost_config, make_database, tmp_path):
    """(rpc, certification database, process): certification without members."""
    with service_alone("certification", vhost_config, make_database, tmp_path) as alone:
        yield alone


def written_for(engine, member_id):
    """(applications of the member, application messages about them in the outbox)."""
    with engine.connect() as connection:
        applications = connection.execute(sa.text(
            "SELECT count(*) FROM applications WHERE member_id = :m"), {"m": member_id}).scalar()
        messages = connection.execute(sa.text(
            "SELECT count(*) FROM outbox_messages WHERE event_type = 'application_submitted' "
            "AND payload LIKE :m"), {"m": f"%{member_id}%"}).scalar()
    return applications, messages


def test_without_members_the_view_decides_for_the_members_it_knows(
        certification_alone, vhost_config):
    rpc, engine, process = certification_alone
    scheme = make_scheme(rpc)
    assessment = make_session(rpc, scheme, [make_assessor(rpc, [scheme["code"]])])
    suspended, active = feed_member_view(vhost_config, engine)

    def application(member_id):
        return {"member_id": member_id, "scheme_code": scheme["code"],
                "session_id": assessment["id"]}

    unknown = member_record()["id"]
    # No members service ever ran here: nothing to route the call to.
    error, took = timed_error(rpc.certification.apply, application(unknown))
    assert error.exc_type == "InternalError", error
    assert "no members service is running" in error.value  # refused, not waited for
    assert took < TIMEOUT + SLACK
    members_stopped(vhost_config["AMQP_URI"])  # now a call waits for the timeout
    error, took = timed_error(rpc.certification.apply, application(unknown))
    assert error.exc_type == "InternalError", error
    assert "members.get did not answer within 1s" in error.value
    assert TIMEOUT <= took < TIMEOUT + SLACK
    assert written_for(engine, unknown) == (0, 0)
    assert view_status(engine, unknown) is None
    assert rpc.certification.get_session(assessment["id"])["seats_taken"] == 0

    # The view says suspended, members is asked, does not answer: the view's answer.
    error, took = timed_error(rpc.certification.apply, application(suspended["id"]))
    assert error.exc_type == "Forbidden", error
    assert TIMEOUT <= took < TIMEOUT + SLACK
    assert written_for(engine, suspended["id"]) == (0, 0)
    assert (f"members did not answer about member {suspended['id']} (members.get did not "
            "answer within 1s); deciding from the member view") in process.log()
    # An assessor linked to a member the view knows: the link names a real member.
    linked = make_assessor(rpc, [scheme["code"]], member_id=suspended["id"])
    assert linked["member_id"] == suspended["id"]
    assert remote_error(lambda: make_assessor(rpc, [scheme["code"]], member_id=unknown)
                        ).exc_type == "InternalError"

    # The view says active: members is not needed at all.
    assert rpc.certification.apply(application(active["id"]))["status"] == "submitted"
    assert written_for(engine, active["id"]) == (1, 1)
    assert rpc.certification.get_session(assessment["id"])["seats_taken"] == 1
