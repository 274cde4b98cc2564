"""The transactional outbox and its relay, against the real broker and PostgreSQL."""
import json
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import eventlet
import pytest
import sqlalchemy as sa
from nameko.containers import ServiceContainer
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy.orm import Session

from shared.envelope import make_envelope
from shared.errors import Conflict, InternalError
from shared.outbox import Outbox, OutboxRelay, add_message
from shared.tables import outbox_messages
from tests.foundation import ledger_service
from tests.support.broker import MessageLog, TcpProxy, subscriber_class
from tests.support.waiting import wait_until
from tests.support.identities import admin_context


@pytest.fixture
def note_messages(base_config):
    """The ledger's notes, as a subscriber receives them: on a durable queue of this
    test's own (deleted at the end), so no note another test published is in it."""
    from kombu import Connection

    message_log = MessageLog()
    name = f"note_watcher_{uuid.uuid4().hex[:8]}"
    container = ServiceContainer(
        subscriber_class("ledger_test", ["note_recorded"], message_log, name=name),
        base_config)
    container.start()
    yield message_log
    container.stop()
    with Connection(base_config["AMQP_URI"]) as connection:
        connection.default_channel.queue_delete(
            f"evt-ledger_test-note_recorded--{name}.on_note_recorded")


def notes_before_a_marker(config, note_messages):
    """The notes received before a marker published now: the subscriber's queue is
    FIFO, so every note published before (a duplicate included) has arrived by then."""
    from nameko.standalone.events import event_dispatcher

    marker = make_envelope("ledger_test", "note_recorded", {"note": f"marker-{uuid.uuid4()}"})
    event_dispatcher(config)("ledger_test", "note_recorded", marker)
    note_messages.wait_for("note_recorded", note=marker["data"]["note"])
    notes = [m["data"]["note"] for m in note_messages.of_type("note_recorded")]
    assert notes[-1] == marker["data"]["note"]
    return notes[:-1]


def test_a_committed_change_is_published_promptly_in_the_envelope(
        ledger, base_config, ledger_engine, note_messages):
    relay = next(d for d in ledger.extensions if isinstance(d, Outbox)).relay
    with ClusterRpcProxy(base_config, context_data=admin_context()) as rpc:
        # The relay's first (start-up) round is over: it waits for a wake-up (or 30 s).
        wait_until(lambda: relay._wake.getting() == 1, message="the relay waiting")
        started = time.monotonic()
        envelope = rpc.ledger_test.record("first note")
        [message] = note_messages.wait_for("note_recorded", timeout=5)
    # Woken by the commit: the ledger's relay polls only every 30 s here.
    assert time.monotonic() - started < 2
    assert message == envelope
    assert message["producer"] == "ledger_test" and message["data"] == {"note": "first note"}
    with ledger_engine.connect() as connection:
        assert connection.execute(
            sa.select(outbox_messages.c.sent_at).where(
                outbox_messages.c.event_id == envelope["event_id"])).scalar() is not None


def test_a_rolled_back_change_has_no_message_and_no_row(
        ledger, base_config, ledger_engine, note_messages):
    with ClusterRpcProxy(base_config, context_data=admin_context()) as rpc:
        with pytest.raises(Conflict):
            rpc.ledger_test.record_then_refuse("never")
        with pytest.raises(InternalError) as caught:
            rpc.ledger_test.crash()
        assert "reference" in str(caught.value) and "KeyError" not in str(caught.value)
        rpc.ledger_test.record("after")
    note_messages.wait_for("note_recorded", note="after")
    assert note_messages.of_type("note_recorded", note="never") == []
    assert ledger_service.count_effects(ledger_engine, "never") == 0
    with ledger_engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(outbox_messages)).scalar() == 1


def _write_notes(engine, notes):
    with Session(engine) as session:
        for note in notes:
            add_message(session, "ledger_test", "note_recorded", {"note": note})
        session.commit()


def test_with_the_broker_unreachable_changes_commit_and_arrive_once_in_order_after(
        ledger_engine, base_config, note_messages):
    broker = urlsplit(base_config["AMQP_URI"])
    proxy = TcpProxy(broker.hostname, broker.port or 5672)
    via_proxy = urlunsplit(broker._replace(netloc=f"{broker.username}:{broker.password}"
                                                  f"@127.0.0.1:{proxy.port}"))
    relay = OutboxRelay(ledger_engine, via_proxy, "ledger_test", batch_size=25,
                        poll_interval=0.2, max_backoff=0.5, confirm_timeout=2)
    relay_thread = eventlet.spawn(relay.run)
    try:
        _write_notes(ledger_engine, [f"before-{i}" for i in range(30)])
        note_messages.wait_for("note_recorded", count=30)

        proxy.cut()
        _write_notes(ledger_engine, [f"during-{i}" for i in range(60)])  # commits regardless

        def tried_twice():
            with ledger_engine.connect() as connection:
                return connection.execute(sa.select(sa.func.max(
                    outbox_messages.c.publish_attempts))).scalar() >= 2

        # The relay tried to publish them, failed, backed off and failed again.
        wait_until(tried_twice, message="two failed publishing rounds")
        assert len(note_messages.of_type("note_recorded")) == 30
        assert relay.pending_count() == 60

        proxy.restore()
        note_messages.wait_for("note_recorded", count=90, timeout=20)
        wait_until(lambda: relay.pending_count() == 0, message="outbox drained")
    finally:
        relay.stop()
        relay_thread.wait()
        proxy.close()
    notes = notes_before_a_marker(base_config, note_messages)
    expected = [f"before-{i}" for i in range(30)] + [f"during-{i}" for i in range(60)]
    assert notes == expected  # every message, once, in commit order


def test_two_relays_on_one_outbox_publish_each_message_once(
        ledger_engine, base_config, note_messages):
    relays = [OutboxRelay(ledger_engine, base_config["AMQP_URI"], "ledger_test",
                          batch_size=10, poll_interval=0.05) for _ in range(2)]
    threads = [eventlet.spawn(relay.run) for relay in relays]
    try:
        _write_notes(ledger_engine, [f"n{i}" for i in range(100)])
        note_messages.wait_for("note_recorded", count=100, timeout=20)
    finally:
        for relay in relays:
            relay.stop()
        for thread in threads:
            thread.wait()
    notes = notes_before_a_marker(base_config, note_messages)
    assert notes == [f"n{i}" for i in range(100)]


def test_sent_rows_are_pruned_after_the_retention(ledger_engine, base_config):
    from datetime import timedelta

    from shared.timeutil import utcnow

    _write_notes(ledger_engine, ["old", "new"])
    relay = OutboxRelay(ledger_engine, base_config["AMQP_URI"], "ledger_test",
                        retention=timedelta(hours=1))
    assert relay.relay_once() == 2
    with ledger_engine.begin() as connection:
        connection.execute(
            sa.update(outbox_messages)
            .where(outbox_messages.c.payload.contains('"old"'))
            .values(sent_at=utcnow() - timedelta(hours=2)))
        connection.execute(sa.insert(outbox_messages).values(
            event_id="00000000-0000-4000-8000-000000000001", event_type="note_recorded",
            payload=json.dumps({"note": "unsent"}), created_at=utcnow() - timedelta(days=9)))
    assert relay.prune() == (1, 0)
    with ledger_engine.connect() as connection:
        left = connection.execute(sa.select(outbox_messages.c.payload)).scalars().all()
    assert len(left) == 2 and not any('"old"' in payload for payload in left)  # unsent stays


def test_the_running_relay_prunes_by_itself(base_config, ledger_db_url, ledger_engine,
                                            note_messages):
    """OUTBOX_PRUNE_CHECK_SECONDS and the retentions as operators set them: sent rows
    and processed-message records past retention disappear without anyone calling."""
    from datetime import timedelta

    from shared.tables import processed_messages
    from shared.timeutil import utcnow

    with ledger_engine.begin() as connection:
        connection.execute(sa.insert(processed_messages).values(
            consumer="ledger_test.old", event_id="00000000-0000-4000-8000-000000000002",
            event_type="note_recorded",
            processed_at=utcnow() - timedelta(days=2)))
    container = ServiceContainer(ledger_service.LedgerService, {
        **base_config, "LEDGER_TEST_DB_URL": ledger_db_url, "OUTBOX_PRUNE_CHECK_SECONDS": 0.5,
        "OUTBOX_RETENTION_HOURS": 1 / 3600, "PROCESSED_RETENTION_DAYS": 1})
    container.start()
    try:
        with ClusterRpcProxy(base_config, context_data=admin_context()) as rpc:
            rpc.ledger_test.record("short-lived")
        note_messages.wait_for("note_recorded", note="short-lived")

        def outbox_rows():
            with ledger_engine.connect() as connection:
                return connection.execute(
                    sa.select(sa.func.count()).select_from(outbox_messages)).scalar()

        def processed_rows():
            with ledger_engine.connect() as connection:
                return connection.execute(
                    sa.select(sa.func.count()).select_from(processed_messages)).scalar()

        wait_until(lambda: outbox_rows() == 0, timeout=10, message="the sent row pruned")
        wait_until(lambda: processed_rows() == 0, timeout=10,
                   message="the old processed-message record pruned")
    finally:
        container.stop()
