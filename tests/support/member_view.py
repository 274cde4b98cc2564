"""A service's view of members (certification's and events'): feeding it as members
would, and reading it."""
import sqlalchemy as sa

from tests.support.broker import publish_as
from tests.support.factories import member_record
from tests.support.waiting import wait_until


def view_status(engine, member_id):
    """The member's status in a service's member view, or None if it has none."""
    with engine.connect() as connection:
        return connection.execute(sa.text(
            "SELECT status FROM member_views WHERE member_id = :id"), {"id": member_id}).scalar()


def feed_member_view(config, engine):
    """``(suspended, active)``: two member records published as members would, once a
    service's member view (``engine``) holds both."""
    suspended, active = member_record("suspended"), member_record("active")
    publish_as(config, "members", "member_suspended", suspended)
    publish_as(config, "members", "member_activated", active)
    wait_until(lambda: view_status(engine, suspended["id"]) == "suspended"
               and view_status(engine, active["id"]) == "active", message="the view fed")
    return suspended, active


def times_skipped_as_applied(service, handler, envelope):
    """How often ``service`` (a ServiceProcess) logged that ``handler`` received this
    message again and skipped it (shared.handlers: "<service>.<handler> already
    applied ...")."""
    return service.log().count(f"{service.name}.{handler} already applied "
                               f"{envelope['event_type']} {envelope['event_id']}; skipping")
