"""The notifications service: tells members what happened, in their language,
in-app, by email and by SMS, exactly once per message, member and channel.

Entrypoints only. The messages it reacts to are the templates in ``templates/``:
one handler is made for each (see ``domain.catalog``); adding a template file for
a new message type adds the subscription, with no code.
"""
from datetime import timedelta
from pathlib import Path

from nameko.dependency_providers import Config

from services.notifications import domain, operations
from services.notifications.delivery import DeliveryWorker
from shared import config as cfg, observability
from shared.db import Database
from shared.entrypoints import rpc, timer
from shared.handlers import event_handler, prune_processed_messages
from shared.member_view import MEMBER_EVENTS
from shared.rpc import TimedRpcProxy


class NotificationsService(observability.Observable):
    name = "notifications"

    db = Database(migrations_dir=Path(__file__).parent / "migrations")
    deliveries = DeliveryWorker()
    members = TimedRpcProxy("members")
    config = Config()

    # Notifications has no outbox, whose relay prunes these elsewhere.
    @timer("PROCESSED_PRUNE_CHECK_SECONDS", 60 * 60)
    def prune_processed_messages(self):
        days = cfg.float_setting(self.config, "PROCESSED_RETENTION_DAYS", 30)
        prune_processed_messages(self.db, timedelta(days=days))

    @rpc(read_only=True)
    def list_inbox(self, member_id, filters=None):
        return operations.list_inbox(self.db, member_id, filters)

    @rpc
    def mark_read(self, member_id, notification_ids):
        return operations.mark_read(self.db, member_id, notification_ids)

    @rpc(read_only=True)
    def get_preferences(self, member_id):
        return operations.get_preferences(self.db, member_id)

    @rpc
    def set_preferences(self, member_id, data):
        return operations.set_preferences(self.db, member_id, data)

    @rpc(read_only=True)
    def list_deliveries(self, filters=None):
        return operations.list_deliveries(self.db, filters)

    @rpc
    def retry_delivery(self, delivery_id):
        return operations.retry_delivery(self.db, delivery_id)

    @rpc
    def retry_failed(self, filters=None):
        return operations.retry_failed(self.db, filters)

    @rpc(read_only=True)
    def delivery_counts(self):
        return operations.delivery_counts(self.db)


def _handler_for(source, event_type):
    """A handler telling the members a message concerns (and, for members' own
    messages, first updating the directory from the record it carries)."""

    def handle(self, event):
        operations.handle_message(self.db, self.members, event, source,
                                  self.deliveries.sms_enabled)

    handle.__name__ = f"on_{source}_{event_type}"
    return event_handler(source, event_type)(handle)


def _directory_handler(event_type):
    """For members' messages with nothing to tell: only the directory changes."""

    def handle(self, event):
        operations.apply_member_record(self.db, event["data"])

    handle.__name__ = f"on_members_{event_type}"
    return event_handler("members", event_type)(handle)


_catalog = domain.catalog()
for _source, _event_type in _catalog:
    setattr(NotificationsService, f"on_{_source}_{_event_type}", _handler_for(_source, _event_type))
for _event_type in MEMBER_EVENTS:
    if ("members", _event_type) not in _catalog:
        setattr(NotificationsService, f"on_members_{_event_type}", _directory_handler(_event_type))
