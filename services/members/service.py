"""The members service: registration and membership of creative entrepreneurs.

Entrypoints only; the use cases are in ``operations.py``, the rules in ``domain.py``.
"""
from pathlib import Path

from services.members import operations
from shared.db import Database
from shared.subsectors import list_subsectors
from shared.entrypoints import rpc, timer
from shared.outbox import Outbox
from shared import observability

class MembersService(observability.Observable):
    name = "members"

    db = Database(migrations_dir=Path(__file__).parent / "migrations")
    outbox = Outbox()

    @rpc
    def list_subsectors(self):
        return list_subsectors()

    @rpc
    def register(self, data):
        return operations.register(self.db, self.outbox, data)

    @rpc(read_only=True)
    def get(self, member_id):
        return operations.get(self.db, member_id)

    @rpc(read_only=True)
    def get_by_number(self, member_number):
        return operations.get_by_number(self.db, member_number)

    @rpc(read_only=True)
    def list(self, filters=None):
        return operations.list_members(self.db, filters)

    @rpc
    def update_profile(self, member_id, changes):
        return operations.update_profile(self.db, self.outbox, member_id, changes)

    @rpc
    def activate(self, member_id):
        return operations.activate(self.db, self.outbox, member_id)

    @rpc
    def suspend(self, member_id, reason):
        return operations.suspend(self.db, self.outbox, member_id, reason)

    @rpc
    def reinstate(self, member_id):
        return operations.reinstate(self.db, self.outbox, member_id)

    @rpc
    def renew(self, member_id):
        return operations.renew(self.db, self.outbox, member_id)

    @rpc
    def expire_due(self, now=None):
        return operations.expire_due(self.db, self.outbox, now)

    @timer("MEMBERSHIP_EXPIRY_CHECK_SECONDS", eager=True)  # also on start
    def expire_due_daily(self):
        operations.expire_due(self.db, self.outbox)

    @rpc
    def stats(self):
        return operations.stats(self.db)
