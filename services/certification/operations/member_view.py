"""What certification knows of members (a view kept from the members messages)
and of the trainings they attended (events' attendance_recorded)."""
from sqlalchemy import select

from services.certification import domain
from services.certification.models import MemberView, TrainingAttendance
from shared import member_view
from shared.db import upsert_if_newer
from shared.envelope import require_fields, require_time
from shared.timeutil import utcnow


def apply_member_record(session, record):
    """Keep the member view from a members message (or RPC answer); newer wins."""
    require_fields(record, "id", "full_name", "email", "phone", "status", "updated_at")
    upsert_if_newer(session, MemberView.__table__, ["member_id"], {
        "member_id": str(record["id"]),
        "status": record["status"],
        "full_name": record["full_name"],
        "email": record["email"],
        "phone": record["phone"],
        "locale": record.get("locale") or "id",
        "source_updated_at": require_time(record, "updated_at"),
    }, "source_updated_at")


def known_member(session, members, member_id):
    """The member as certification knows them; asks members when unsure.

    The view is trusted to say "active"; anything else (unknown, or a status that
    would refuse) is checked with the members service, since its message may
    simply not have arrived yet (apply right after activate must work). If members
    does not answer, a member the view knows is judged by the view.
    """
    return member_view.current_member(session, members, member_id, MemberView,
                                      apply_member_record,
                                      trusted=lambda view: view.status == domain.MEMBER_ACTIVE)


def record_training_attendance(session, data):
    """A training that prepares for a scheme was attended (events' attendance_recorded).

    Every attendance_recorded names its member, event and kind: one that does not is
    parked at once (retrying cannot mend it), whatever its kind."""
    require_fields(data, "member_id", "event_id", "kind")
    if data.get("kind") != "training" or not data.get("scheme_code"):
        return  # only a training that prepares for a scheme counts
    key = (str(data["member_id"]), data["scheme_code"], str(data["event_id"]))
    if session.get(TrainingAttendance, key) is None:
        session.add(TrainingAttendance(
            member_id=key[0], scheme_code=key[1], event_id=key[2],
            attended_at=require_time(data, "checked_in_at")
            if data.get("checked_in_at") else utcnow()))


def has_attended_training(session, member_id, scheme_code):
    """Whether the member attended a training that prepares for the scheme."""
    return session.scalars(select(TrainingAttendance).where(
        TrainingAttendance.member_id == member_id,
        TrainingAttendance.scheme_code == scheme_code)).first() is not None
