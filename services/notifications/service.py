"""The notifications service: tells members what happened, in their language,
in-app, by email and by SMS, exactly once per message, member and channel.

Entrypoints only. It subscribes to every message that has a template in
``templates/id/`` (``domain.catalog``), and to every members message for its
directory; tests/unit/test_notification_handlers.py checks that the handlers below
are exactly those. A new message type is its template files plus one handler here,
named ``on_<source>_<event_type>`` (the name is part of its queue's name); a new
language is only files.
"""
from datetime import timedelta
from pathlib import Path

from services.notifications import operations
from services.notifications.dependencies import DeliveryWorker
from shared import handlers, observability
from shared.db import Database
from shared.entrypoints import rpc, timer
from shared.handlers import event_handler
from shared.rpc import TimedRpcProxy
from shared.settings import ServiceSettings


class NotificationsService(observability.Observable):
    name = "notifications"

    db = Database(migrations_dir=Path(__file__).parent / "migrations")
    deliveries = DeliveryWorker()
    members = TimedRpcProxy("members")
    settings = ServiceSettings()

    # Notifications has no outbox, whose relay prunes these elsewhere.
    @timer("PROCESSED_PRUNE_CHECK_SECONDS")
    def prune_processed_messages(self):
        handlers.prune_processed_messages(
            self.db, timedelta(days=self.settings.PROCESSED_RETENTION_DAYS))

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

    # -- members messages: the directory, and a notice where there is a template --

    @event_handler("members", "member_registered")
    def on_members_member_registered(self, event):
        operations.handle_message(self.db, self.members, self.deliveries, "members", event)

    @event_handler("members", "member_activated")
    def on_members_member_activated(self, event):
        operations.handle_message(self.db, self.members, self.deliveries, "members", event)

    @event_handler("members", "member_suspended")
    def on_members_member_suspended(self, event):
        operations.handle_message(self.db, self.members, self.deliveries, "members", event)

    @event_handler("members", "member_lapsed")
    def on_members_member_lapsed(self, event):
        operations.handle_message(self.db, self.members, self.deliveries, "members", event)

    @event_handler("members", "member_updated")
    def on_members_member_updated(self, event):
        operations.apply_member_record(self.db, event["data"])

    @event_handler("members", "member_reinstated")
    def on_members_member_reinstated(self, event):
        operations.apply_member_record(self.db, event["data"])

    @event_handler("members", "member_renewed")
    def on_members_member_renewed(self, event):
        operations.apply_member_record(self.db, event["data"])

    # -- certification messages: notices --

    @event_handler("certification", "application_submitted")
    def on_certification_application_submitted(self, event):
        operations.handle_message(self.db, self.members, self.deliveries, "certification", event)

    @event_handler("certification", "assessment_completed")
    def on_certification_assessment_completed(self, event):
        operations.handle_message(self.db, self.members, self.deliveries, "certification", event)

    @event_handler("certification", "certificate_issued")
    def on_certification_certificate_issued(self, event):
        operations.handle_message(self.db, self.members, self.deliveries, "certification", event)

    @event_handler("certification", "certificate_suspended")
    def on_certification_certificate_suspended(self, event):
        operations.handle_message(self.db, self.members, self.deliveries, "certification", event)

    @event_handler("certification", "certificate_revoked")
    def on_certification_certificate_revoked(self, event):
        operations.handle_message(self.db, self.members, self.deliveries, "certification", event)

    @event_handler("certification", "certificate_expired")
    def on_certification_certificate_expired(self, event):
        operations.handle_message(self.db, self.members, self.deliveries, "certification", event)

    @event_handler("certification", "certificate_expiring")
    def on_certification_certificate_expiring(self, event):
        operations.handle_message(self.db, self.members, self.deliveries, "certification", event)

    # -- events messages: notices --

    @event_handler("events", "event_published")
    def on_events_event_published(self, event):
        operations.handle_message(self.db, self.members, self.deliveries, "events", event)

    @event_handler("events", "event_cancelled")
    def on_events_event_cancelled(self, event):
        operations.handle_message(self.db, self.members, self.deliveries, "events", event)

    @event_handler("events", "registration_confirmed")
    def on_events_registration_confirmed(self, event):
        operations.handle_message(self.db, self.members, self.deliveries, "events", event)

    @event_handler("events", "registration_waitlisted")
    def on_events_registration_waitlisted(self, event):
        operations.handle_message(self.db, self.members, self.deliveries, "events", event)

    @event_handler("events", "registration_promoted")
    def on_events_registration_promoted(self, event):
        operations.handle_message(self.db, self.members, self.deliveries, "events", event)
