"""The foundation's tables, present in every service's database.

``outbox_messages``: messages waiting to be (or already) relayed to RabbitMQ.
``processed_messages``: the ``event_id``s each consumer has applied.
Each service's first migration creates them with ``create_foundation_tables``.
"""
import sqlalchemy as sa

from shared.db import UTCDateTime

foundation_metadata = sa.MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY.
_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

outbox_messages = sa.Table(
    "outbox_messages",
    foundation_metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(36), nullable=False, unique=True),
    sa.Column("event_type", sa.String(100), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime, nullable=True),
    sa.Column("publish_attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Index(
        "ix_outbox_messages_pending", "id",
        postgresql_where=sa.text("sent_at IS NULL"),
        sqlite_where=sa.text("sent_at IS NULL"),
    ),
    sa.Index("ix_outbox_messages_sent_at", "sent_at"),
)

processed_messages = sa.Table(
    "processed_messages",
    foundation_metadata,
    sa.Column("consumer", sa.String(200), primary_key=True),
    sa.Column("event_id", sa.String(36), primary_key=True),
    sa.Column("event_type", sa.String(100), nullable=False),
    sa.Column("processed_at", UTCDateTime, nullable=False),
    sa.Index("ix_processed_messages_processed_at", "processed_at"),
)


def create_foundation_tables(op):
    """Create the foundation tables in a migration (version 1 of their shape).

    Spelled out rather than derived from the tables above: a migration is a
    snapshot, and must not change when the definitions above later do.
    """
    op.create_table(
        "outbox_messages",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("sent_at", UTCDateTime, nullable=True),
        sa.Column("publish_attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.create_index(
        "ix_outbox_messages_pending", "outbox_messages", ["id"],
        postgresql_where=sa.text("sent_at IS NULL"), sqlite_where=sa.text("sent_at IS NULL"),
    )
    op.create_index("ix_outbox_messages_sent_at", "outbox_messages", ["sent_at"])
    op.create_table(
        "processed_messages",
        sa.Column("consumer", sa.String(200), primary_key=True),
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("processed_at", UTCDateTime, nullable=False),
    )
    op.create_index(
        "ix_processed_messages_processed_at", "processed_messages", ["processed_at"]
    )
