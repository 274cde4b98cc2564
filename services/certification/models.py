"""The certification database: schemes, assessors, sessions, applications,
certificates, the signing keys ever used, and this service's own view of members
and of training attendance (kept from other services' messages)."""
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.db import UTCDateTime
from shared.timeutil import iso


class Base(DeclarativeBase):
    pass


class Scheme(Base):
    """A certification scheme (skema sertifikasi) and its competence units."""

    __tablename__ = "schemes"

    code: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    subsector: Mapped[str] = mapped_column(sa.String(40), index=True)
    skkni_ref: Mapped[str] = mapped_column(sa.String(200))
    units = mapped_column(sa.JSON, nullable=False)  # [{code, title}]
    validity_months: Mapped[int] = mapped_column(sa.Integer)
    requires_training: Mapped[bool] = mapped_column(sa.Boolean)
    created_at = mapped_column(UTCDateTime, nullable=False)

    @property
    def unit_codes(self):
        return [unit["code"] for unit in self.units]

    def to_record(self):
        return {"code": self.code, "title": self.title, "subsector": self.subsector,
                "skkni_ref": self.skkni_ref, "units": self.units,
                "validity_months": self.validity_months,
                "requires_training": self.requires_training}


class AssessorScheme(Base):
    """A scheme an assessor may assess."""

    __tablename__ = "assessor_schemes"

    assessor_id: Mapped[str] = mapped_column(sa.ForeignKey("assessors.id"), primary_key=True)
    scheme_code: Mapped[str] = mapped_column(sa.ForeignKey("schemes.code"), primary_key=True,
                                             index=True)


class Assessor(Base):
    """An assessor (asesor kompetensi) and the schemes they may assess."""

    __tablename__ = "assessors"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    full_name: Mapped[str] = mapped_column(sa.String(120))
    email: Mapped[str] = mapped_column(sa.String(254))
    registration_number: Mapped[str] = mapped_column(sa.String(60), unique=True)
    member_id: Mapped[str | None] = mapped_column(sa.String(36))
    created_at = mapped_column(UTCDateTime, nullable=False)
    schemes = relationship(AssessorScheme, lazy="selectin", order_by=AssessorScheme.scheme_code,
                           cascade="all, delete-orphan")

    @property
    def scheme_codes(self):
        return [link.scheme_code for link in self.schemes]

    def to_record(self):
        return {"id": self.id, "full_name": self.full_name, "email": self.email,
                "registration_number": self.registration_number,
                "scheme_codes": self.scheme_codes, "member_id": self.member_id}


class AssessmentSession(Base):
    """An assessment session at a venue (TUK, tempat uji kompetensi)."""

    __tablename__ = "assessment_sessions"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    scheme_code: Mapped[str] = mapped_column(sa.ForeignKey("schemes.code"), index=True)
    venue: Mapped[str] = mapped_column(sa.String(200))
    starts_at = mapped_column(UTCDateTime, nullable=False)
    capacity: Mapped[int] = mapped_column(sa.Integer)
    assessor_ids = mapped_column(sa.JSON, nullable=False)
    seats_taken: Mapped[int] = mapped_column(sa.Integer, default=0)
    created_at = mapped_column(UTCDateTime, nullable=False)

    def to_record(self):
        return {"id": self.id, "scheme_code": self.scheme_code, "venue": self.venue,
                "starts_at": iso(self.starts_at), "capacity": self.capacity,
                "assessor_ids": self.assessor_ids, "seats_taken": self.seats_taken}


class Application(Base):
    """APL-01, with the optional APL-02 self-assessment, and its result."""

    __tablename__ = "applications"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    member_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    scheme_code: Mapped[str] = mapped_column(sa.ForeignKey("schemes.code"))
    session_id: Mapped[str] = mapped_column(sa.ForeignKey("assessment_sessions.id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(20), index=True)
    self_assessment = mapped_column(sa.JSON, nullable=True)
    result = mapped_column(sa.JSON, nullable=True)
    created_at = mapped_column(UTCDateTime, nullable=False)
    decided_at = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        # One open application per member and scheme, even under concurrent applies.
        sa.Index("uq_applications_open", "member_id", "scheme_code", unique=True,
                 postgresql_where=sa.text("status = 'submitted'"),
                 sqlite_where=sa.text("status = 'submitted'")),
        sa.Index("ix_applications_created_at_id", "created_at", "id"),
    )

    def to_record(self):
        return {"id": self.id, "member_id": self.member_id, "scheme_code": self.scheme_code,
                "session_id": self.session_id, "status": self.status,
                "self_assessment": self.self_assessment, "result": self.result,
                "created_at": iso(self.created_at), "decided_at": iso(self.decided_at)}


class Certificate(Base):
    __tablename__ = "certificates"

    number: Mapped[str] = mapped_column(sa.String(30), primary_key=True)
    application_id: Mapped[str] = mapped_column(sa.ForeignKey("applications.id"), unique=True)
    member_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    holder_name: Mapped[str] = mapped_column(sa.String(120))
    scheme_code: Mapped[str] = mapped_column(sa.ForeignKey("schemes.code"), index=True)
    scheme_title: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(20), index=True)
    issued_at = mapped_column(UTCDateTime, nullable=False)
    valid_until = mapped_column(UTCDateTime, nullable=False, index=True)
    credential: Mapped[str] = mapped_column(sa.Text)
    kid: Mapped[str] = mapped_column(sa.String(64))
    reminders_sent = mapped_column(sa.JSON, nullable=False, default=list)  # [90, 30]
    status_reason: Mapped[str | None] = mapped_column(sa.String(500))
    created_seq = mapped_column(UTCDateTime, nullable=False)  # precise, for list order

    __table_args__ = (sa.Index("ix_certificates_created_seq_number", "created_seq", "number"),)

    def to_record(self):
        return {"number": self.number, "member_id": self.member_id,
                "holder_name": self.holder_name, "scheme_code": self.scheme_code,
                "scheme_title": self.scheme_title, "status": self.status,
                "issued_at": iso(self.issued_at), "valid_until": iso(self.valid_until),
                "credential": self.credential}


class SigningKey(Base):
    """Every public key this service has signed with: all stay published (rotation)."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    public_jwk = mapped_column(sa.JSON, nullable=False)
    first_used_at = mapped_column(UTCDateTime, nullable=False)


class MemberView(Base):
    """What certification knows of a member, from members' messages (or one RPC)."""

    __tablename__ = "member_views"

    member_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(20))
    full_name: Mapped[str] = mapped_column(sa.String(120))
    email: Mapped[str] = mapped_column(sa.String(254))
    phone: Mapped[str] = mapped_column(sa.String(20))
    locale: Mapped[str] = mapped_column(sa.String(2))
    source_updated_at = mapped_column(UTCDateTime, nullable=False)  # newer wins


class TrainingAttendance(Base):
    """A member attended a training that prepares for a scheme (events' messages)."""

    __tablename__ = "training_attendance"

    member_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    scheme_code: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    event_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    attended_at = mapped_column(UTCDateTime, nullable=False)
