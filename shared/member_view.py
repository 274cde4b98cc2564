"""Keeping a service's own view of members from the members messages, and
deciding from it.

    @keeps_member_view(operations.apply_member_record)
    class CertificationService: ...

adds one idempotent handler per members message type (``on_member_registered``,
``on_member_activated``, ...), each passing the member record the message carries
to ``apply_record(session, record)``, which keeps the newest version
(``shared.db.upsert_if_newer``). The service's Database attribute must be ``db``.

    view = current_member(session, members, member_id, MemberView, apply_member_record,
                          trusted=lambda view: view.status == "active")

is the member as the service should judge them: its view when the view is
trusted, else what the members service answers (kept in the view). When members
does not answer, a view that knows the member is the best knowledge there is.
"""
import logging


from shared.errors import NotFound
from shared.handlers import event_handler
from shared.rpc import ServiceTimeout

log = logging.getLogger(__name__)

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


def current_member(session, members, member_id, view_model, apply_record, trusted):
    """The member's row in ``view_model``, asking ``members.get`` unless ``trusted(view)``.

    The view may be behind: a message not yet arrived (applying right after
    activation must work), so a view that is unknown or not trusted is checked
    with members first. ``NotFound`` if members knows no such member. When members
    does not answer (``ServiceTimeout``: too slow, or not running at all), the view
    decides if it has a row; a member it has never heard of cannot be judged, and
    the caller gets the ``ServiceTimeout`` (an ``InternalError`` naming members).
    """
    view = session.get(view_model, member_id)
    if view is not None and trusted(view):
        return view
    try:
        record = members.get(member_id)
    except NotFound:
        raise NotFound(f"no member {member_id}") from None
    except ServiceTimeout as error:
        if view is None:
            raise
        log.warning("members did not answer about member %s (%s); deciding from the "
                    "member view, which says %s", member_id, error, view.status)
        return view
    apply_record(session, record)
    return session.get(view_model, member_id, populate_existing=True)
