"""The in-process tier: a service's entrypoints called as plain methods (nameko's
``worker_factory``) on a real PostgreSQL session that the test rolls back, with a
recording outbox and a stub of the members service.

Each call runs in a savepoint of the test's transaction, as a worker runs in a
transaction of its own: a call that raises leaves nothing behind, neither rows nor
recorded messages, exactly as the running service would roll back.
"""
from datetime import datetime, timedelta

from nameko.testing.services import worker_factory

from shared.envelope import make_envelope
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


class DeliveryWorkerStub:
    """Notifications' delivery worker as its use cases see it: whether SMS can be sent,
    and ``wake()`` (counted in ``woken``) after new deliveries are written."""

    def __init__(self, sms_enabled=True):
        self.sms_enabled, self.woken = sms_enabled, 0

    def wake(self):
        self.woken += 1


def notifications_worker(session, sms_enabled=True):
    """``InWorker`` of the notifications service: members stubbed, no delivery sent."""
    from services.notifications.service import NotificationsService
    from shared.settings import Settings

    return InWorker(NotificationsService, session, members=MembersStub(),
                    deliveries=DeliveryWorkerStub(sms_enabled=sms_enabled),
                    settings=Settings.from_config({}))


def hear(worker, source, event_type, data, envelope=None):
    """Deliver a message to ``worker``'s handler for it (``on_<source>_<event_type>``,
    or ``on_<event_type>`` for the member views' handlers), as the broker would: in
    its envelope. Returns the envelope."""
    envelope = envelope or make_envelope(source, event_type, data)
    handler = getattr(worker.service, f"on_{source}_{event_type}", None)
    getattr(worker, f"on_{source}_{event_type}" if handler else f"on_{event_type}")(envelope)
    return envelope


def later(record, minutes=1):
    """An ISO time ``minutes`` after ``record``'s ``updated_at``."""
    return (datetime.fromisoformat(record["updated_at"]) + timedelta(minutes=minutes)).isoformat()


def changed(record, minutes=1, **changes):
    """A member ``record`` as members sends it ``minutes`` after its last change."""
    return {**record, **changes, "updated_at": later(record, minutes)}


def activated(record):
    """A pending member ``record`` as members sends it on activation, a minute later."""
    since = datetime.fromisoformat(record["updated_at"]) + timedelta(minutes=1)
    return changed(record, status="active", member_number="EKRAF-2026-000123",
                   active_since=since.isoformat(),
                   valid_until=(since + timedelta(days=365)).isoformat())


def new_event(events, publish=True, **overrides):
    """An event made through the events service in-process (``events`` an InWorker),
    published unless ``publish=False``."""
    from tests.support.factories import event_data

    event = events.create_event(event_data(**overrides))
    return events.publish_event(event["id"]) if publish else event


def ids(page):
    """The ids of a page's items, in order."""
    return [item["id"] for item in page["items"]]


def notifications_rows(worker):
    """Every row of every table notifications keeps, column by column: to compare
    before and after a call that must change nothing."""
    from sqlalchemy import select

    from services.notifications.models import Contact, Delivery, Notification, Preference
    from shared.tables import processed_messages

    tables = [model.__table__ for model in (Contact, Preference, Notification, Delivery)]
    return {table.name: sorted(map(tuple, worker.session.execute(select(table))), key=repr)
            for table in [*tables, processed_messages]}
