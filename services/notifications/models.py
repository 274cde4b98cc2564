"""The notifications database: the member directory (kept from members' messages),
preferences, the in-app inbox, and every delivery on every channel."""
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import UTCDateTime
from shared.timeutil import iso


class Base(DeclarativeBase):
    pass


class Contact(Base):
    """What notifications knows of a member, from members' messages (or one RPC)."""

    __tablename__ = "contacts"

    member_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    full_name: Mapped[str] = mapped_column(sa.String(120))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    locale: Mapped[str] = mapped_column(sa.String(2))
    status: Mapped[str] = mapped_column(sa.String(20), index=True)
    subsector: Mapped[str] = mapped_column(sa.String(40), index=True)
    city: Mapped[str] = mapped_column(sa.String(80))
    city_key: Mapped[str] = mapped_column(sa.String(80), index=True)  # casefolded, for matching
    source_updated_at = mapped_column(UTCDateTime, nullable=False)  # newer wins


class Preference(Base):
    """A member's choices; no row means the defaults (everything on)."""

    __tablename__ = "preferences"

    member_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    email: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    sms: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    announcements: Mapped[bool] = mapped_column(sa.Boolean, default=True)

    def to_record(self):
        return {"member_id": self.member_id, "email": self.email, "sms": self.sms,
                "announcements": self.announcements}


class Notification(Base):
    """An in-app notification: one per (message, member)."""

    __tablename__ = "notifications"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    member_id: Mapped[str] = mapped_column(sa.String(36))
    event_type: Mapped[str] = mapped_column(sa.String(100))
    source_event_id: Mapped[str] = mapped_column(sa.String(36))
    subject: Mapped[str] = mapped_column(sa.String(250))
    body: Mapped[str] = mapped_column(sa.Text)
    created_at = mapped_column(UTCDateTime, nullable=False)
    read_at = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        sa.UniqueConstraint("source_event_id", "member_id", name="uq_notifications_once"),
        sa.Index("ix_notifications_inbox", "member_id", "created_at", "id"),
    )

    def to_record(self):
        return {"id": self.id, "member_id": self.member_id, "event_type": self.event_type,
                "subject": self.subject, "body": self.body, "created_at": iso(self.created_at),
                "read_at": iso(self.read_at)}


class Delivery(Base):
    """One send on one channel: one per (message, member, channel)."""

    __tablename__ = "deliveries"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    member_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    channel: Mapped[str] = mapped_column(sa.String(10))
    event_type: Mapped[str] = mapped_column(sa.String(100), index=True)
    source_event_id: Mapped[str] = mapped_column(sa.String(36))
    status: Mapped[str] = mapped_column(sa.String(10))
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    recipient: Mapped[str | None] = mapped_column(sa.String(254))  # address when created
    locale: Mapped[str] = mapped_column(sa.String(2))
    subject: Mapped[str] = mapped_column(sa.String(250))
    body: Mapped[str] = mapped_column(sa.Text)
    created_at = mapped_column(UTCDateTime, nullable=False)
    sent_at = mapped_column(UTCDateTime, nullable=True)
    next_attempt_at = mapped_column(UTCDateTime, nullable=True)
    locked_until = mapped_column(UTCDateTime, nullable=True)  # a sender's lease
    # An operator's re-queues of a failed delivery (``retry_delivery``): how often, when
    # last, and the attempts made before the last one (the backoff counts from there).
    retries: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    retried_at = mapped_column(UTCDateTime, nullable=True)
    attempts_before_retry: Mapped[int] = mapped_column(sa.Integer, default=0,
                                                       server_default="0")

    __table_args__ = (
        sa.UniqueConstraint("source_event_id", "member_id", "channel", name="uq_deliveries_once"),
        sa.Index("ix_deliveries_due", "status", "next_attempt_at"),
        sa.Index("ix_deliveries_created_at_id", "created_at", "id"),
    )

    def to_record(self):
        return {"id": self.id, "member_id": self.member_id, "channel": self.channel,
                "event_type": self.event_type, "status": self.status, "attempts": self.attempts,
                "last_error": self.last_error, "created_at": iso(self.created_at),
                "sent_at": iso(self.sent_at), "retries": self.retries,
                "retried_at": iso(self.retried_at)}
