"""How members tests tell that a call sent no message."""
import eventlet

from tests.support.factories import member_data


def messages_about(message_log, member_ids):
    """The messages received so far whose member is one of ``member_ids``."""
    return [m for m in list(message_log.messages) if m["data"].get("id") in member_ids]


def let_stray_messages_arrive(rpc, message_log, settle=0.5):
    """Wait until every message of the changes committed so far would have arrived.

    The outbox relays in commit order, so once a fresh registration's message is
    here, any message an earlier call recorded has been published; ``settle`` covers
    the subscriber's other queues (one per message type). Registers one member."""
    marker = rpc.members.register(member_data(full_name="Penanda Antrean"))
    message_log.wait_for("member_registered", id=marker["id"])
    eventlet.sleep(settle)
