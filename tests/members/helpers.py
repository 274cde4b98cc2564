"""Building blocks for members tests: a member's registration data, and how to tell
that a call sent no message."""
import uuid

import eventlet

_counter = iter(range(1, 10_000_000))


def new_member_data(**overrides):
    n = next(_counter)
    data = {
        "full_name": f"Rahmawati Putri {n}",
        "email": f"rahma.{uuid.uuid4().hex[:10]}@example.com",
        "phone": f"0812-{n % 10000:04d}-{uuid.uuid4().int % 10000:04d}",
        "city": "Balikpapan",
        "subsector": "kuliner",
    }
    data.update(overrides)
    return data


def messages_about(message_log, member_ids):
    """The messages received so far whose member is one of ``member_ids``."""
    return [m for m in list(message_log.messages) if m["data"].get("id") in member_ids]


def let_stray_messages_arrive(rpc, message_log, settle=0.5):
    """Wait until every message of the changes committed so far would have arrived.

    The outbox relays in commit order, so once a fresh registration's message is
    here, any message an earlier call recorded has been published; ``settle`` covers
    the subscriber's other queues (one per message type). Registers one member."""
    marker = rpc.members.register(new_member_data(full_name="Penanda Antrean"))
    message_log.wait_for("member_registered", id=marker["id"])
    eventlet.sleep(settle)
