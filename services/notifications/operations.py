"""The notifications use cases: keep the directory, turn messages into
notifications and deliveries, answer the RPC methods. Sending is the
``DeliveryWorker`` in ``dependencies.py``, through the senders in ``adapters.py``."""
import uuid

from sqlalchemy import and_, exists, func, or_, select, update

from services.notifications import domain
from services.notifications.models import Contact, Delivery, Notification, Preference
from services.notifications.schemas import (
    delivery_filters_schema, inbox_filters_schema, mark_read_schema, preferences_schema,
    retry_filters_schema,
)
from shared.db import get_or_not_found, insert_ignoring_duplicates, upsert_if_newer
from shared.envelope import require_fields, require_time
from shared.errors import Conflict, NotFound, ValidationError
from shared.pagination import paginate, where_equal
from shared.schemas import load, parse_uuid
from shared.timeutil import utcnow, utcnow_precise

BATCH_SIZE = 500
DEFAULT_PREFERENCES = {"email": True, "sms": True, "announcements": True}


# -- the directory ---------------------------------------------------------------

def apply_member_record(session, record):
    """Keep a member's contact details from a members message; newer wins."""
    require_fields(record, "id", "full_name", "status", "subsector", "city", "updated_at")
    updated_at = require_time(record, "updated_at")
    upsert_if_newer(session, Contact.__table__, ["member_id"], {
        "member_id": str(record["id"]),
        "full_name": record["full_name"],
        "email": record.get("email"),
        "phone": record.get("phone"),
        "locale": record.get("locale") or domain.DEFAULT_LOCALE,
        "status": record["status"],
        "subsector": record["subsector"],
        "city": record["city"],
        "city_key": record["city"].casefold(),
        "source_updated_at": updated_at,
    }, "source_updated_at")


def _audience(session, members, member_ids):
    """The contacts of these members and their preferences, in one query; a member
    not heard of yet is asked of members. Returns (contacts, preferences by id)."""
    found = _contacts_with_preferences(session, member_ids)
    missing = [member_id for member_id in member_ids if member_id not in found]
    for member_id in missing:
        try:
            apply_member_record(session, members.get(member_id))
        except (NotFound, ValidationError):
            continue  # a member that does not exist (any more): nobody to tell
    if missing:
        found.update(_contacts_with_preferences(session, missing))
    contacts = [found[member_id][0] for member_id in member_ids if member_id in found]
    return contacts, {member_id: preferences for member_id, (_, preferences) in found.items()}


def _contacts_with_preferences(session, member_ids):
    rows = session.execute(
        select(Contact, Preference)
        .outerjoin(Preference, Preference.member_id == Contact.member_id)
        .where(Contact.member_id.in_(member_ids))
        .execution_options(populate_existing=True)).all()
    return {contact.member_id: (contact, _preference_record(contact.member_id, preference))
            for contact, preference in rows}


def _preference_record(member_id, stored):
    if stored is None:
        return {"member_id": member_id, **DEFAULT_PREFERENCES}
    return stored.to_record()


def _preferences(session, member_ids):
    stored = {p.member_id: p for p in session.scalars(
        select(Preference).where(Preference.member_id.in_(member_ids)))}
    return {member_id: _preference_record(member_id, stored.get(member_id))
            for member_id in member_ids}


# -- turning a message into notifications and deliveries --------------------------

def _rows_for(envelope, source, contacts, preferences, sms_enabled):
    """The in-app notification and the deliveries for each contact."""
    now, due = utcnow_precise(), utcnow()
    notifications, deliveries = [], []
    for contact in contacts:
        text, locale = domain.template_text(source, envelope["event_type"], contact.locale)
        subject, body = domain.render(text, domain.template_values(
            text, envelope["data"], contact.full_name, locale))
        notifications.append({
            "id": str(uuid.uuid4()), "member_id": contact.member_id,
            "event_type": envelope["event_type"], "source_event_id": envelope["event_id"],
            "subject": subject, "body": body, "created_at": now, "read_at": None})
        for channel in domain.channels_for(preferences[contact.member_id], bool(contact.email),
                                           bool(contact.phone), sms_enabled):
            in_app = channel == domain.IN_APP
            deliveries.append({
                "id": str(uuid.uuid4()), "member_id": contact.member_id, "channel": channel,
                "event_type": envelope["event_type"], "source_event_id": envelope["event_id"],
                "status": domain.SENT if in_app else domain.PENDING,
                "attempts": 1 if in_app else 0, "last_error": None,
                "recipient": {domain.EMAIL: contact.email, domain.SMS: contact.phone}.get(channel),
                "locale": locale, "subject": subject, "body": body, "created_at": now,
                "sent_at": now if in_app else None, "next_attempt_at": None if in_app else due,
                "locked_until": None})
    return notifications, deliveries


def handle_message(session, members, delivery_worker, source, envelope):
    """A message with a template: its data checked before anything is written (a
    wrong shape is parked, never half-applied nor silently dropped), the directory
    updated from a members message, then everyone it concerns told, on the channels
    ``delivery_worker`` can send on."""
    domain.check_message(source, envelope["event_type"], envelope["data"])
    if source == "members":
        apply_member_record(session, envelope["data"])
    return notify(session, members, envelope, source, delivery_worker.sms_enabled)


def notify(session, members, envelope, source, sms_enabled):
    """Everything one (checked) message means for the members it concerns; returns how many."""
    member_ids = domain.recipients(source, envelope["event_type"], envelope["data"])
    if member_ids is None:
        return announce(session, envelope, source, sms_enabled)
    contacts, preferences = _audience(session, members, member_ids)
    notifications, deliveries = _rows_for(envelope, source, contacts, preferences, sms_enabled)
    insert_ignoring_duplicates(session, Notification.__table__, notifications, BATCH_SIZE)
    insert_ignoring_duplicates(session, Delivery.__table__, deliveries, BATCH_SIZE)
    return len(notifications)


def announce(session, envelope, source, sms_enabled):
    """A new event, to every active member of its city and subsectors who wants
    announcements: read and written in batches, however many members that is."""
    event = envelope["data"]
    query = (select(Contact, Preference)
             .outerjoin(Preference, Preference.member_id == Contact.member_id)
             .where(Contact.status == domain.MEMBER_ACTIVE,
                    Contact.city_key == event["city"].casefold())
             .order_by(Contact.member_id))
    if event["subsectors"]:
        query = query.where(Contact.subsector.in_(event["subsectors"]))
    total, after = 0, ""
    while True:
        rows = session.execute(query.where(Contact.member_id > after).limit(BATCH_SIZE)).all()
        if not rows:
            return total
        after = rows[-1][0].member_id
        preferences = {contact.member_id: _preference_record(contact.member_id, stored)
                       for contact, stored in rows}
        audience = [contact for contact, _ in rows if domain.wants_announcement(
            contact.status, contact.city, contact.subsector,
            preferences[contact.member_id]["announcements"], event)]
        notifications, deliveries = _rows_for(envelope, source, audience, preferences,
                                              sms_enabled)
        insert_ignoring_duplicates(session, Notification.__table__, notifications, BATCH_SIZE)
        insert_ignoring_duplicates(session, Delivery.__table__, deliveries, BATCH_SIZE)
        total += len(notifications)


# -- RPC ----------------------------------------------------------------------------

def list_inbox(session, member_id, filters):
    member_id = parse_uuid(member_id, "member_id")
    filters = load(inbox_filters_schema, filters, field_name="filters")
    query = select(Notification).where(Notification.member_id == member_id)
    if filters["unread_only"]:
        query = query.where(Notification.read_at.is_(None))
    return paginate(session, query, [(Notification.created_at, "datetime"),
                                     (Notification.id, "uuid")],
                    filters["limit"], filters["cursor"], newest_first=True)


def mark_read(session, member_id, notification_ids):
    member_id = parse_uuid(member_id, "member_id")
    ids = load(mark_read_schema, {"notification_ids": notification_ids})["notification_ids"]
    if not ids:
        return 0
    return session.execute(
        update(Notification)
        .where(Notification.member_id == member_id, Notification.id.in_(ids),
               Notification.read_at.is_(None))
        .values(read_at=utcnow())).rowcount


def get_preferences(session, member_id):
    member_id = parse_uuid(member_id, "member_id")
    return _preferences(session, [member_id])[member_id]


def set_preferences(session, member_id, data):
    member_id = parse_uuid(member_id, "member_id")
    choices = load(preferences_schema, data, partial=True)
    if not choices:
        raise ValidationError.field("data", "Give at least one of email, sms, announcements.")
    # Create the row if need be (two first calls at once: one inserts, both then lock it).
    insert_ignoring_duplicates(session, Preference.__table__,
                               [{"member_id": member_id, **DEFAULT_PREFERENCES}])
    preference = session.get(Preference, member_id, with_for_update=True,
                             populate_existing=True)
    for name, value in choices.items():
        setattr(preference, name, value)
    session.flush()
    return preference.to_record()


def list_deliveries(session, filters):
    filters = load(delivery_filters_schema, filters, field_name="filters")
    query = where_equal(select(Delivery), Delivery, filters,
                        ("member_id", "status", "channel", "event_type"))
    return paginate(session, query, [(Delivery.created_at, "datetime"), (Delivery.id, "uuid")],
                    filters["limit"], filters["cursor"])


def _requeue(now):
    """The change that puts a failed delivery back in the sender's queue, due now, with
    the whole retry schedule again. ``attempts`` keeps counting every try; ``retries``
    and ``retried_at`` show the re-queue in ``list_deliveries``."""
    return {"status": domain.PENDING, "next_attempt_at": now, "locked_until": None,
            "attempts_before_retry": Delivery.attempts, "retries": Delivery.retries + 1,
            "retried_at": now}


def _channel_still_wanted():
    """A condition on ``Delivery``: its member has not turned its channel off since (no
    preferences row means the defaults: everything on). A resend must not override an
    opt-out made after the first try."""
    turned_off = select(Preference.member_id).where(
        Preference.member_id == Delivery.member_id,
        or_(and_(Delivery.channel == domain.EMAIL, Preference.email.is_(False)),
            and_(Delivery.channel == domain.SMS, Preference.sms.is_(False))))
    return ~exists(turned_off)


def retry_delivery(session, delivery_id):
    """A ``failed`` delivery sent again (once more through the whole schedule)."""
    delivery_id = parse_uuid(delivery_id, "delivery_id")
    # One conditional statement: two operators retrying at once re-queue it once.
    requeued = session.execute(
        update(Delivery).where(Delivery.id == delivery_id, Delivery.status == domain.FAILED,
                               _channel_still_wanted())
        .values(**_requeue(utcnow()))).rowcount
    # Loaded after the UPDATE (a worker's session starts empty): the row as it left it.
    delivery = get_or_not_found(session, Delivery, delivery_id, f"no delivery {delivery_id}")
    if not requeued and delivery.status == domain.FAILED:
        raise Conflict(f"delivery {delivery_id}: its member has since turned "
                       f"{delivery.channel} off")
    if not requeued:
        raise Conflict(f"delivery {delivery_id} is {delivery.status}: only a failed "
                       "delivery can be retried")
    return delivery.to_record()


def retry_failed(session, filters):
    """Every ``failed`` delivery matching ``filters`` (``member_id``, ``channel``,
    ``event_type``, ``created_after``; none: all) sent again, except where the member
    has since turned that channel off; returns how many."""
    filters = load(retry_filters_schema, filters, field_name="filters")
    statement = update(Delivery).where(Delivery.status == domain.FAILED,
                                       _channel_still_wanted())
    created_after = filters.pop("created_after", None)
    if created_after is not None:
        statement = statement.where(Delivery.created_at > created_after)
    for name, value in filters.items():
        statement = statement.where(getattr(Delivery, name) == value)
    return session.execute(statement.values(**_requeue(utcnow()))).rowcount


def delivery_counts(session):
    """``{channel: {status: n}}``, for operators."""
    counts = {}
    for channel, status, count in session.execute(
            select(Delivery.channel, Delivery.status, func.count())
            .group_by(Delivery.channel, Delivery.status)):
        counts.setdefault(channel, {})[status] = count
    return counts
