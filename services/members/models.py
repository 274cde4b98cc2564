"""The members database: members and the per-year member-number counter."""
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import UTCDateTime
from shared.timeutil import iso


class Base(DeclarativeBase):
    pass


class Member(Base):
    __tablename__ = "members"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    member_number: Mapped[str | None] = mapped_column(sa.String(20), unique=True)
    full_name: Mapped[str] = mapped_column(sa.String(120))
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)  # stored lower-case
    phone: Mapped[str] = mapped_column(sa.String(20))
    city: Mapped[str] = mapped_column(sa.String(80), index=True)
    province: Mapped[str] = mapped_column(sa.String(80))
    subsector: Mapped[str] = mapped_column(sa.String(40), index=True)
    business_name: Mapped[str | None] = mapped_column(sa.String(160))
    nib: Mapped[str | None] = mapped_column(sa.String(13))
    locale: Mapped[str] = mapped_column(sa.String(2))
    status: Mapped[str] = mapped_column(sa.String(20), index=True)
    active_since = mapped_column(UTCDateTime, nullable=True)
    valid_until = mapped_column(UTCDateTime, nullable=True, index=True)
    created_at = mapped_column(UTCDateTime, nullable=False)
    updated_at = mapped_column(UTCDateTime, nullable=False)

    # Also, on PostgreSQL: EXPRESSION_INDEXES below.
    __table_args__ = (sa.Index("ix_members_created_at_id", "created_at", "id"),)

    def to_record(self):
        return {
            "id": self.id,
            "member_number": self.member_number,
            "full_name": self.full_name,
            "email": self.email,
            "phone": self.phone,
            "city": self.city,
            "province": self.province,
            "subsector": self.subsector,
            "business_name": self.business_name,
            "nib": self.nib,
            "locale": self.locale,
            "status": self.status,
            "active_since": iso(self.active_since),
            "valid_until": iso(self.valid_until),
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


# Made by migration 0002 on PostgreSQL only, and not expressible portably here:
# trigram indexes on lower(full_name) and lower(business_name) for the ``q`` filter.
EXPRESSION_INDEXES = ("ix_members_full_name_trgm", "ix_members_business_name_trgm")


class MemberNumberSequence(Base):
    """The last member number given out in a year; its row lock serialises activations."""

    __tablename__ = "member_number_sequences"

    year: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(sa.Integer, nullable=False)
