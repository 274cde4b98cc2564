"""The in-process tier: a service's entrypoints called as plain methods (nameko's
``worker_factory``) on a real PostgreSQL session that the test rolls back, with a
recording outbox and a stub of the members service.

Each call runs in a savepoint of the test's transaction, as a worker runs in a
transaction of its own: a call that raises leaves nothing behind, neither rows nor
recorded messages, exactly as the running service would roll back.
"""
from nameko.testing.services import worker_factory

from shared.errors import NotFound
from shared.rpc import ServiceTimeout


class RecordingOutbox:
    """What a worker's ``self.outbox`` records: ``(event_type, data)`` in order."""

    def __init__(self):
        self.messages = []

    def add(self, event_type, data):
        self.messages.append((event_type, data))

    def types(self):
        return [event_type for event_type, _ in self.messages]

    def of_type(self, event_type):
        return [data for recorded_type, data in self.messages if recorded_type == event_type]


class MembersStub:
    """``members.get`` as certification and events call it: the records it knows
    (``add``), ``NotFound`` for others, ``ServiceTimeout`` once ``answering`` is False.
    ``asked`` lists every member id it was asked about."""

    def __init__(self):
        self.records, self.asked, self.answering = {}, [], True

    def add(self, record):
        self.records[record["id"]] = record
        return record

    def get(self, member_id):
        self.asked.append(member_id)
        if not self.answering:
            raise ServiceTimeout("members.get did not answer within 1s")
        if member_id not in self.records:
            raise NotFound(f"no member {member_id}")
        return self.records[member_id]


class InWorker:
    """``service_cls``'s methods, each called as one worker: in a savepoint of
    ``session`` (undone with its messages if the call raises), the session's objects
    expired afterwards as a new worker would load them afresh. ``self.outbox`` holds
    what committed calls recorded (it stays empty for a service without an outbox:
    notifications)."""

    def __init__(self, service_cls, session, **dependencies):
        self.session = session
        self.outbox = RecordingOutbox()
        if hasattr(service_cls, "outbox"):
            dependencies["outbox"] = self.outbox
        self.service = worker_factory(service_cls, db=session, **dependencies)

    def __getattr__(self, name):
        method = getattr(self.service, name)

        def call(*args, **kwargs):
            recorded = len(self.outbox.messages)
            savepoint = self.session.begin_nested()
            try:
                result = method(*args, **kwargs)
                self.session.flush()
            except BaseException:
                savepoint.rollback()
                del self.outbox.messages[recorded:]
                raise
            finally:
                self.session.expire_all()
            savepoint.commit()
            return result

        return call
