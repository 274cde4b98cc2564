"""The events service: trainings, public dialogs, workshops and exhibitions, with
registration, waitlists and attendance.

Entrypoints only; use cases in ``operations.py``, rules in ``domain.py``.
"""
from pathlib import Path

from services.events import operations
from shared.db import Database
from shared.entrypoints import rpc
from shared.member_view import keeps_member_view
from shared.outbox import Outbox
from shared.rpc import TimedRpcProxy
from shared import observability


@keeps_member_view(operations.apply_member_record)  # members messages -> member view
class EventsService(observability.Observable):
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

    @rpc(read_only=True)
    def get_event(self, event_id):
        return operations.get_event(self.db, event_id)

    @rpc(read_only=True)
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

    @rpc(read_only=True)
    def list_registrations(self, event_id, filters=None):
        return operations.list_registrations(self.db, event_id, filters)
