"""The events service: trainings, public dialogs, workshops and exhibitions, with
registration, waitlists and attendance.

Entrypoints only; use cases in ``operations.py``, rules in ``domain.py``.
"""
from pathlib import Path

from services.events import operations
from shared.db import Database
from shared.entrypoints import rpc
from shared.handlers import event_handler
from shared.outbox import Outbox
from shared.rpc import TimedRpcProxy


class EventsService:
    name = "events"

    db = Database(migrations_dir=Path(__file__).parent / "migrations")
    outbox = Outbox()
    members = TimedRpcProxy("members")

    # -- events ---------------------------------------------------------------------

    @rpc
    def create_event(self, data):
        return operations.create_event(self.db, data)

    @rpc
    def publish_event(self, event_id):
        return operations.publish_event(self.db, self.outbox, event_id)

    @rpc
    def cancel_event(self, event_id, reason):
        return operations.cancel_event(self.db, self.outbox, event_id, reason)

    @rpc
    def get_event(self, event_id):
        return operations.get_event(self.db, event_id)

    @rpc
    def list_events(self, filters=None):
        return operations.list_events(self.db, filters)

    # -- registrations ------------------------------------------------------------------

    @rpc
    def register(self, event_id, member_id):
        return operations.register(self.db, self.outbox, self.members, event_id, member_id)

    @rpc
    def cancel_registration(self, event_id, member_id):
        return operations.cancel_registration(self.db, self.outbox, event_id, member_id)

    @rpc
    def check_in(self, event_id, member_id):
        return operations.check_in(self.db, self.outbox, event_id, member_id)

    @rpc
    def list_registrations(self, event_id, filters=None):
        return operations.list_registrations(self.db, event_id, filters)

    # -- what events learns from members --------------------------------------------------

    @event_handler("members", "member_registered")
    def on_member_registered(self, event):
        operations.apply_member_record(self.db, event["data"])

    @event_handler("members", "member_activated")
    def on_member_activated(self, event):
        operations.apply_member_record(self.db, event["data"])

    @event_handler("members", "member_updated")
    def on_member_updated(self, event):
        operations.apply_member_record(self.db, event["data"])

    @event_handler("members", "member_suspended")
    def on_member_suspended(self, event):
        operations.apply_member_record(self.db, event["data"])

    @event_handler("members", "member_reinstated")
    def on_member_reinstated(self, event):
        operations.apply_member_record(self.db, event["data"])

    @event_handler("members", "member_renewed")
    def on_member_renewed(self, event):
        operations.apply_member_record(self.db, event["data"])

    @event_handler("members", "member_lapsed")
    def on_member_lapsed(self, event):
        operations.apply_member_record(self.db, event["data"])
