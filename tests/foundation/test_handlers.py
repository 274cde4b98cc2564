"""Idempotent, retried, dead-lettered handling, against the real broker and PostgreSQL."""
import json
import uuid

import pytest
import sqlalchemy as sa
from amqp.exceptions import ChannelError
from nameko.standalone.events import event_dispatcher

from shared.envelope import make_envelope
from shared.handlers import ATTEMPTS_HEADER, ERROR_HEADER, ORIGINAL_QUEUE_HEADER
from shared.tables import processed_messages
from tests.foundation import ledger_service
from tests.support.broker import drain_queue
from tests.support.waiting import wait_until

HANDLER_QUEUE = "evt-test_source-thing_happened--ledger_test.on_thing_happened"
DEAD_LETTERS = "ledger_test.dead-letter"
RETRY_QUEUES = [f"{HANDLER_QUEUE}.retry.200", f"{HANDLER_QUEUE}.retry.400"]


def dispatch(config, payload, times=1):
    send = event_dispatcher(config)
    for _ in range(times):
        send("test_source", "thing_happened", payload)


def queue_depth(config, queue):
    from kombu import Connection

    with Connection(config["AMQP_URI"]) as connection:
        return connection.default_channel.queue_declare(queue=queue, passive=True).message_count


def settle_with_a_marker(config, engine):
    """Send a marker message and wait until it is applied: the handler's queue is FIFO,
    so whatever waited in it before has been taken by then; and nothing waits in a
    retry queue to come back later."""
    marker = make_envelope("test_source", "thing_happened", {"note": f"marker-{uuid.uuid4()}"})
    dispatch(config, marker)
    wait_until(lambda: ledger_service.count_effects(engine, marker["data"]["note"]) == 1,
               message="the marker applied")
    assert [queue_depth(config, queue) for queue in RETRY_QUEUES] == [0, 0]


def test_the_same_envelope_three_times_has_one_effect(ledger, base_config, ledger_engine):
    envelope = make_envelope("test_source", "thing_happened", {"note": "once"})
    dispatch(base_config, envelope, times=3)
    wait_until(lambda: ledger_service.skipped[envelope["event_id"]] == 2,
               message="the two duplicates skipped")
    assert ledger_service.count_effects(ledger_engine, "once") == 1
    assert ledger_service.attempts[envelope["event_id"]] == 1
    with ledger_engine.connect() as connection:
        rows = connection.execute(sa.select(processed_messages)).all()
    assert [(r.consumer, r.event_id) for r in rows] == [
        ("ledger_test.on_thing_happened", envelope["event_id"])]


def test_a_handler_that_fails_then_succeeds_is_applied_once(ledger, base_config, ledger_engine):
    envelope = make_envelope("test_source", "thing_happened", {"note": "flaky", "fail_times": 2})
    dispatch(base_config, envelope)
    wait_until(lambda: ledger_service.count_effects(ledger_engine, "flaky") == 1, timeout=10)
    assert ledger_service.attempts[envelope["event_id"]] == 3  # two failures rolled back
    settle_with_a_marker(base_config, ledger_engine)
    assert ledger_service.count_effects(ledger_engine, "flaky") == 1
    assert ledger_service.attempts[envelope["event_id"]] == 3
    assert ledger_service.skipped[envelope["event_id"]] == 0  # no copy came back
    assert drain_queue(base_config["AMQP_URI"], DEAD_LETTERS) == []


def test_a_handler_that_always_fails_is_parked_in_the_dead_letter_queue(
        ledger, base_config, ledger_engine):
    envelope = make_envelope("test_source", "thing_happened", {"note": "poison", "fail_times": 99})
    dispatch(base_config, envelope)
    parked = wait_until(lambda: drain_queue(base_config["AMQP_URI"], DEAD_LETTERS),
                        timeout=15, message="the message in the dead-letter queue")
    [(body, headers)] = parked
    assert json.loads(body) == envelope
    # One try, then one retry per configured delay (200 ms, 400 ms here): three in all.
    assert headers[ATTEMPTS_HEADER] == 3
    assert ledger_service.attempts[envelope["event_id"]] == 3
    assert "failing on purpose" in headers[ERROR_HEADER]
    assert headers[ORIGINAL_QUEUE_HEADER] == HANDLER_QUEUE
    assert ledger_service.count_effects(ledger_engine, "poison") == 0  # every attempt rolled back
    settle_with_a_marker(base_config, ledger_engine)
    assert ledger_service.attempts[envelope["event_id"]] == 3  # and no more tries
    assert ledger_service.count_effects(ledger_engine, "poison") == 0
    assert drain_queue(base_config["AMQP_URI"], DEAD_LETTERS) == []


def test_a_malformed_message_is_parked_at_once_and_others_keep_flowing(
        ledger, base_config, ledger_engine):
    dispatch(base_config, {"event_type": "thing_happened", "data": {"note": "no id"}})
    good = make_envelope("test_source", "thing_happened", {"note": "fine"})
    dispatch(base_config, good)
    [(body, headers)] = wait_until(
        lambda: drain_queue(base_config["AMQP_URI"], DEAD_LETTERS), timeout=10)
    assert headers[ATTEMPTS_HEADER] == 1
    assert "MalformedMessage" in headers[ERROR_HEADER] and "event_id" in headers[ERROR_HEADER]
    wait_until(lambda: ledger_service.count_effects(ledger_engine, "fine") == 1)


def test_an_attempt_header_we_did_not_write_parks_the_message(ledger, base_config):
    from kombu import Connection, Exchange, Producer

    envelope = make_envelope("test_source", "thing_happened", {"note": "odd", "fail_times": 99})
    with Connection(base_config["AMQP_URI"]) as connection:
        Producer(connection.default_channel).publish(
            envelope, exchange=Exchange("test_source.events", type="topic", durable=True),
            routing_key="thing_happened", headers={ATTEMPTS_HEADER: "lots"}, serializer="json")
    [(body, headers)] = wait_until(
        lambda: drain_queue(base_config["AMQP_URI"], DEAD_LETTERS), timeout=10)
    assert json.loads(body)["event_id"] == envelope["event_id"]
    assert ledger_service.attempts[envelope["event_id"]] == 1


def test_queues_are_declared_durable_before_anything_is_published(ledger, base_config):
    from kombu import Connection

    for queue in (HANDLER_QUEUE, f"{HANDLER_QUEUE}.retry.200", f"{HANDLER_QUEUE}.retry.400",
                  DEAD_LETTERS):
        with Connection(base_config["AMQP_URI"]) as connection:
            # Re-declaring as non-durable is refused only if the queue exists, durable.
            with pytest.raises(ChannelError, match="PRECONDITION_FAILED"):
                connection.default_channel.queue_declare(
                    queue=queue, durable=False, auto_delete=False)
    # A message published now, with the service stopped, waits in the durable queue.
    ledger.stop()
    envelope = make_envelope("test_source", "thing_happened", {"note": str(uuid.uuid4())})
    dispatch(base_config, envelope)
    waiting = drain_queue(base_config["AMQP_URI"], HANDLER_QUEUE)
    assert [json.loads(body)["event_id"] for body, _ in waiting] == [envelope["event_id"]]


def test_operators_list_parked_messages_and_replay_them_once_fixed(
        ledger, base_config, ledger_engine):
    from shared.dead_letters import list_parked, replay

    poison = make_envelope("test_source", "thing_happened", {"note": "poison", "fail_times": 99})
    dispatch(base_config, poison)
    healthy = make_envelope("test_source", "thing_happened", {"note": "healthy"})
    dispatch(base_config, healthy)
    parked = wait_until(lambda: list_parked(base_config["AMQP_URI"], "ledger_test"), timeout=15)
    assert [p["event_id"] for p in parked] == [poison["event_id"]]
    assert parked[0]["queue"] == HANDLER_QUEUE and parked[0]["attempts"] == 3
    assert "failing on purpose" in parked[0]["error"]
    assert list_parked(base_config["AMQP_URI"], "ledger_test") == parked  # listing keeps them
    wait_until(lambda: ledger_service.count_effects(ledger_engine, "healthy") == 1)  # the queue kept flowing

    assert replay(base_config["AMQP_URI"], "ledger_test", event_id=str(uuid.uuid4())) == 0
    ledger_service.fixed.add(poison["event_id"])  # the cause is fixed
    assert replay(base_config["AMQP_URI"], "ledger_test") == 1
    wait_until(lambda: ledger_service.count_effects(ledger_engine, "poison") == 1)
    assert list_parked(base_config["AMQP_URI"], "ledger_test") == []
    assert replay(base_config["AMQP_URI"], "ledger_test") == 0
