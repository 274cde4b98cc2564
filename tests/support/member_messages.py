"""Which members messages arrived, and a marker that shows every earlier one has."""
from tests.support.factories import member_data


def messages_about(message_log, member_ids):
    """The messages received so far whose member is one of ``member_ids``."""
    return [m for m in list(message_log.messages) if m["data"].get("id") in member_ids]


def let_stray_messages_arrive(rpc, message_log):
    """Wait until every message of the changes committed so far has arrived.

    A marker member goes through registration, activation, a profile change,
    suspension and reinstatement: one message of each of those types, each committed
    after every earlier call. The outbox relays in commit order and the subscriber has
    one FIFO queue per message type, so once the marker's message of a type is here,
    every earlier message of that type is too. (member_renewed and member_lapsed get
    no marker: renewal needs a membership near its end and a lapse is everyone's
    expire_due; no caller expects either.) Registers one member."""
    marker = rpc.members.register(member_data(full_name="Penanda Antrean"))
    rpc.members.activate(marker["id"])
    rpc.members.update_profile(marker["id"], {"city": "Samarinda"})
    rpc.members.suspend(marker["id"], "penanda")
    rpc.members.reinstate(marker["id"])
    for event_type in ("member_registered", "member_activated", "member_updated",
                       "member_suspended", "member_reinstated"):
        message_log.wait_for(event_type, id=marker["id"])
