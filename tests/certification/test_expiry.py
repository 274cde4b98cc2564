"""Certificate expiry and its reminders, each sent exactly once: by the daily timer
alone (every second here), and when ``expire_due`` is called several times at the
same moment.

On a members and certification pair of this module's own (vhost and databases):
``expire_due`` expires every certificate due at the ``now`` it is given, which on
the session's certification would be other tests' certificates too."""
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from nameko.standalone.rpc import ClusterRpcProxy

from shared.timeutil import iso
from tests.support.broker import CERTIFICATE_EVENTS
from tests.support.broker import listening
from tests.support.calls import remote_error
from tests.support.factories import issue_certificate
from tests.support.services import running_service
from tests.support.identities import admin_context


@pytest.fixture(scope="module")
def own_certification(module_vhost_config, make_database, tmp_path_factory):
    """``(rpc, database engine, messages)``: certification (its expiry timer every
    second) and the members it asks, on this module's own vhost and databases, and
    a subscriber to certification."""
    config = module_vhost_config
    folder = tmp_path_factory.mktemp("certificate_expiry")
    db_url = make_database("certificate_expiry")
    engine = sa.create_engine(db_url)
    try:
        with listening(config, "certification", CERTIFICATE_EVENTS,
                       name="certificate_watcher") as messages, \
                running_service("members", config, make_database("certificate_expiry_members"),
                                folder), \
                running_service("certification", config, db_url, folder,
                                CERTIFICATE_EXPIRY_CHECK_SECONDS="1"), \
                ClusterRpcProxy(config, context_data=admin_context(), timeout=30) as rpc:
            yield rpc, engine, messages
    finally:
        engine.dispose()


# These stand in for the session's fixtures of the same names, in this module only
# (the scheme, assessor, assessment and issued fixtures use this crpc).
@pytest.fixture(scope="module")
def crpc(own_certification):
    return own_certification[0]


@pytest.fixture(scope="module")
def certification_db(own_certification):
    return own_certification[1]


@pytest.fixture(scope="module")
def certificate_messages(own_certification):
    return own_certification[2]


def set_valid_until(certification_db, number, valid_until):
    with certification_db.begin() as connection:
        connection.execute(sa.text("UPDATE certificates SET valid_until = :t WHERE number = :n"),
                           {"t": valid_until, "n": number})


def outbox_count(certification_db, event_type, number):
    """How many ``event_type`` messages certification has stored for this certificate."""
    with certification_db.connect() as connection:
        return connection.execute(sa.text(
            "SELECT count(*) FROM outbox_messages WHERE event_type = :type AND payload LIKE :n"),
            {"type": event_type, "n": f"%{number}%"}).scalar()


def test_the_daily_timer_expires_a_certificate_by_itself(
        crpc, scheme, assessor, assessment, issued, certification_db, certificate_messages):
    _, certificate = issued
    _, later = issue_certificate(crpc, scheme, assessor, assessment)
    number = certificate["number"]
    past = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=1)
    set_valid_until(certification_db, number, past)
    # No expire_due call here: only the service's own timer can expire it.
    [expired] = certificate_messages.wait_for("certificate_expired", number=number, timeout=10)
    assert expired["data"]["status"] == "expired"
    assert expired["data"]["valid_until"] == iso(past)
    assert crpc.certification.get_certificate(number)["status"] == "expired"
    assert crpc.certification.verify(number)["valid"] is False

    # Another certificate made due only now: its expiry shows that the timer has run
    # again since. Anything that run sent again for the first one would be in the
    # outbox before it, and relayed before it (in commit order, to the same queue).
    set_valid_until(certification_db, later["number"], past)
    certificate_messages.wait_for("certificate_expired", number=later["number"], timeout=10)
    assert outbox_count(certification_db, "certificate_expired", number) == 1
    assert len(certificate_messages.of_type("certificate_expired", number=number)) == 1


def expire_due_at_once(crpc, now, times=5):
    """``expire_due(now)`` sent ``times`` times together: the service runs them at once."""
    replies = [crpc.certification.expire_due.call_async(now) for _ in range(times)]
    return [reply.result() for reply in replies]


def test_expire_due_called_many_times_at_once_sends_each_message_once(
        crpc, scheme, assessor, assessment, issued, certification_db, certificate_messages):
    _, certificate = issued
    number = certificate["number"]
    until = datetime.fromisoformat(certificate["valid_until"])

    expire_due_at_once(crpc, (until - timedelta(days=89)).isoformat())
    assert outbox_count(certification_db, "certificate_expiring", number) == 1
    [ninety] = certificate_messages.wait_for("certificate_expiring", number=number)
    assert (ninety["data"]["reminder"], ninety["data"]["days_left"]) == (90, 89)

    expire_due_at_once(crpc, (until - timedelta(days=29)).isoformat())
    assert outbox_count(certification_db, "certificate_expiring", number) == 2
    certificate_messages.wait_for("certificate_expiring", count=2, number=number)

    expire_due_at_once(crpc, (until + timedelta(seconds=1)).isoformat())
    assert outbox_count(certification_db, "certificate_expired", number) == 1
    [expired] = certificate_messages.wait_for("certificate_expired", number=number)
    assert expired["data"]["status"] == "expired"
    assert crpc.certification.get_certificate(number)["status"] == "expired"

    # Markers: another certificate made due for a reminder, then for expiry, now; the
    # timer sends a message of each type for it. Any duplicate of the messages above
    # was stored before them and is relayed before them (in commit order, each type
    # to its own FIFO queue): once the markers are here, so is every duplicate.
    _, marker = issue_certificate(crpc, scheme, assessor, assessment)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    set_valid_until(certification_db, marker["number"], now + timedelta(days=60))
    certificate_messages.wait_for("certificate_expiring", number=marker["number"], timeout=10)
    set_valid_until(certification_db, marker["number"], now - timedelta(seconds=1))
    certificate_messages.wait_for("certificate_expired", number=marker["number"], timeout=10)
    reminders = certificate_messages.of_type("certificate_expiring", number=number)
    assert sorted((m["data"]["reminder"], m["data"]["days_left"]) for m in reminders) == [
        (30, 29), (90, 89)]
    assert len(certificate_messages.of_type("certificate_expired", number=number)) == 1


def test_expiry_and_the_90_and_30_day_reminders_each_once(
        crpc, scheme, assessor, assessment, certification_db, certificate_messages):
    """expire_due called one day after another: nothing until 90 days before, each
    reminder once, then the expiry; an expired certificate verifies as not valid and
    is final."""
    _, certificate = issue_certificate(crpc, scheme, assessor, assessment)
    number = certificate["number"]
    # Due 100 days from now, before every other certificate of this module (valid for
    # years, or expired already): each expire_due below concerns this one alone, so
    # its counts are exact. The timer (real time) leaves it alone: over 90 days away.
    until = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=100)
    set_valid_until(certification_db, number, until)

    def at(delta):
        return (until + delta).isoformat()

    assert crpc.certification.expire_due(at(-timedelta(days=100)))["expiring_90"] == 0
    assert crpc.certification.expire_due(at(-timedelta(days=89)))["expiring_90"] == 1
    assert crpc.certification.expire_due(at(-timedelta(days=60)))["expiring_90"] == 0
    [ninety] = certificate_messages.wait_for("certificate_expiring", number=number)
    assert ninety["data"]["days_left"] == 89
    assert crpc.certification.expire_due(at(-timedelta(days=29)))["expiring_30"] == 1
    assert crpc.certification.expire_due(at(-timedelta(days=10)))["expiring_30"] == 0
    reminders = certificate_messages.wait_for("certificate_expiring", count=2, number=number)
    assert sorted(m["data"]["days_left"] for m in reminders) == [29, 89]
    assert crpc.certification.get_certificate(number)["status"] == "active"
    assert crpc.certification.expire_due(at(timedelta(seconds=1)))["expired"] == 1
    assert crpc.certification.get_certificate(number)["status"] == "expired"
    assert crpc.certification.verify(number)["valid"] is False
    certificate_messages.wait_for("certificate_expired", number=number)
    assert remote_error(crpc.certification.suspend_certificate, number, "x").exc_type == "Conflict"
