"""Keeping a service's own view of members from the members messages.

    @keeps_member_view(operations.apply_member_record)
    class CertificationService: ...

adds one idempotent handler per members message type (``on_member_registered``,
``on_member_activated``, ...), each passing the member record the message carries
to ``apply_record(session, record)``, which keeps the newest version
(``shared.db.upsert_if_newer``). The service's Database attribute must be ``db``.
"""
from shared.handlers import event_handler

MEMBER_EVENTS = ("member_registered", "member_activated", "member_updated", "member_suspended",
                 "member_reinstated", "member_renewed", "member_lapsed")


def keeps_member_view(apply_record):
    def decorate(service_cls):
        for event_type in MEMBER_EVENTS:
            def handle(self, event):
                apply_record(self.db, event["data"])

            handle.__name__ = f"on_{event_type}"  # also names the handler's queue
            setattr(service_cls, handle.__name__, event_handler("members", event_type)(handle))
        return service_cls

    return decorate
