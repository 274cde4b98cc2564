"""Certificate expiry and its reminders, each sent exactly once: by the daily timer
alone (every second in the test fixture), and when ``expire_due`` is called several
times at the same moment."""
from datetime import datetime, timedelta, timezone

import eventlet
import sqlalchemy as sa

from shared.timeutil import iso


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
        crpc, issued, certification_db, certificate_messages):
    _, certificate = issued
    number = certificate["number"]
    past = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=1)
    set_valid_until(certification_db, number, past)
    # No expire_due call here: only the service's own timer can expire it.
    [expired] = certificate_messages.wait_for("certificate_expired", number=number, timeout=10)
    assert expired["data"]["status"] == "expired"
    assert expired["data"]["valid_until"] == iso(past)
    assert crpc.certification.get_certificate(number)["status"] == "expired"
    assert crpc.certification.verify(number)["valid"] is False
    eventlet.sleep(1.5)  # the timer has run again since: nothing more for this one
    assert outbox_count(certification_db, "certificate_expired", number) == 1
    assert len(certificate_messages.of_type("certificate_expired", number=number)) == 1


def expire_due_at_once(crpc, now, times=5):
    """``expire_due(now)`` sent ``times`` times together: the service runs them at once."""
    replies = [crpc.certification.expire_due.call_async(now) for _ in range(times)]
    return [reply.result() for reply in replies]


def test_expire_due_called_many_times_at_once_sends_each_message_once(
        crpc, issued, certification_db, certificate_messages):
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

    eventlet.sleep(1.5)  # time for any duplicate to be relayed and received
    reminders = certificate_messages.of_type("certificate_expiring", number=number)
    assert sorted((m["data"]["reminder"], m["data"]["days_left"]) for m in reminders) == [
        (30, 29), (90, 89)]
    assert len(certificate_messages.of_type("certificate_expired", number=number)) == 1
