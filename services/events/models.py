"""The events database: events and the subsectors they are for, registrations,
and this service's own view of members (kept from the members messages)."""
import sqlalchemy as sa
from sqlalchemy.ext.associationproxy import association_proxy
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.db import UTCDateTime
from shared.timeutil import iso


class Base(DeclarativeBase):
    pass


class EventSubsector(Base):
    """One subsector an event is for. A row per subsector (not a JSON list) so that
    ``list_events`` can filter on it in SQL, on every backend."""

    __tablename__ = "event_subsectors"

    event_id: Mapped[str] = mapped_column(sa.ForeignKey("events.id"), primary_key=True)
    subsector: Mapped[str] = mapped_column(sa.String(40), primary_key=True, index=True)


class Event(Base):
    """A training, public dialog, workshop or exhibition.

    ``confirmed_count`` (seats held: confirmed or attended) and ``waitlist_count``
    change only while the event's row is locked, so they are always exact.
    """

    __tablename__ = "events"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(20))
    description: Mapped[str | None] = mapped_column(sa.Text)
    venue: Mapped[str] = mapped_column(sa.String(200))
    city: Mapped[str] = mapped_column(sa.String(80))
    starts_at = mapped_column(UTCDateTime, nullable=False)
    ends_at = mapped_column(UTCDateTime, nullable=False)
    capacity: Mapped[int] = mapped_column(sa.Integer)
    registration_closes_at = mapped_column(UTCDateTime, nullable=False)
    members_only: Mapped[bool] = mapped_column(sa.Boolean)
    scheme_code: Mapped[str | None] = mapped_column(sa.String(40))
    status: Mapped[str] = mapped_column(sa.String(20))
    confirmed_count: Mapped[int] = mapped_column(sa.Integer)
    waitlist_count: Mapped[int] = mapped_column(sa.Integer)
    cancellation_reason: Mapped[str | None] = mapped_column(sa.String(500))
    created_at = mapped_column(UTCDateTime, nullable=False)

    subsector_rows = relationship(EventSubsector, order_by=EventSubsector.subsector,
                                  lazy="selectin", cascade="all, delete-orphan")
    subsectors = association_proxy("subsector_rows", "subsector",
                                   creator=lambda code: EventSubsector(subsector=code))

    __table_args__ = (sa.Index("ix_events_starts_at_id", "starts_at", "id"),)

    def to_record(self):
        return {
            "id": self.id,
            "title": self.title,
            "kind": self.kind,
            "description": self.description,
            "venue": self.venue,
            "city": self.city,
            "starts_at": iso(self.starts_at),
            "ends_at": iso(self.ends_at),
            "capacity": self.capacity,
            "registration_closes_at": iso(self.registration_closes_at),
            "members_only": self.members_only,
            "subsectors": list(self.subsectors),
            "scheme_code": self.scheme_code,
            "status": self.status,
            "confirmed_count": self.confirmed_count,
            "waitlist_count": self.waitlist_count,
            "created_at": iso(self.created_at),
        }


class Registration(Base):
    """A member's place at an event: ``position`` is set only while waitlisted."""

    __tablename__ = "registrations"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    event_id: Mapped[str] = mapped_column(sa.ForeignKey("events.id"))
    member_id: Mapped[str] = mapped_column(sa.String(36))
    status: Mapped[str] = mapped_column(sa.String(20))
    position: Mapped[int | None] = mapped_column(sa.Integer)
    registered_at = mapped_column(UTCDateTime, nullable=False)  # precise: orders lists
    checked_in_at = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        # One standing registration per member and event, even if a race got past
        # the check under the event's lock.
        sa.Index("uq_registrations_standing", "event_id", "member_id", unique=True,
                 postgresql_where=sa.text("status <> 'cancelled'"),
                 sqlite_where=sa.text("status <> 'cancelled'")),
        sa.Index("ix_registrations_event_registered_at_id", "event_id", "registered_at", "id"),
    )

    def to_record(self):
        return {
            "id": self.id,
            "event_id": self.event_id,
            "member_id": self.member_id,
            "status": self.status,
            "position": self.position,
            "registered_at": iso(self.registered_at),
            "checked_in_at": iso(self.checked_in_at),
        }


class MemberView(Base):
    """What events knows of a member, from members' messages (or one RPC)."""

    __tablename__ = "member_views"

    member_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(20))
    subsector: Mapped[str] = mapped_column(sa.String(40))
    city: Mapped[str] = mapped_column(sa.String(80))
    source_updated_at = mapped_column(UTCDateTime, nullable=False)  # newer wins
