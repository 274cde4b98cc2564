"""Keyset pagination: ``{"items": [...], "next_cursor": str | null}`` for every list.

The cursor is the sort key of the last item of a page, opaque to callers. Keyset
(not offset) pages stay correct while rows are added, and cost the same at page 1
and page 1,000.
"""
from sqlalchemy import tuple_

from shared.errors import ValidationError
from shared.schemas import decode_cursor, encode_cursor, parse_uuid
from shared.timeutil import iso, parse_iso_datetime


def _load_key(kind, value):
    if kind == "datetime":
        return parse_iso_datetime(value, "cursor")
    if kind == "uuid":
        return parse_uuid(value, "cursor")
    if not isinstance(value, str) or len(value) > 200 or "\x00" in value:
        raise ValidationError.field("cursor", "Not a valid cursor.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError.field("cursor", "Not a valid cursor.") from None
    return value


def _dump_key(kind, value):
    return iso(value) if kind == "datetime" else value


def paginate(session, query, keys, limit, cursor, to_record=lambda row: row.to_record(),
             newest_first=False):
    """One page of ``query`` (a ``select`` of one model) ordered by ``keys``.

    ``keys``: ``[(column, kind), ...]`` with kind ``"datetime"``, ``"uuid"`` or
    ``"str"``; together they must be unique (end with the primary key).
    ``newest_first`` orders them descending.
    """
    columns = [column for column, _ in keys]
    after = decode_cursor(cursor, len(keys))
    if after is not None:
        values = [_load_key(kind, value) for (_, kind), value in zip(keys, after)]
        beyond = tuple_(*columns) < tuple_(*values) if newest_first \
            else tuple_(*columns) > tuple_(*values)
        query = query.where(beyond)
    order = [column.desc() for column in columns] if newest_first else columns
    rows = session.scalars(query.order_by(*order).limit(limit + 1)).all()
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        next_cursor = encode_cursor(
            [_dump_key(kind, getattr(last, column.key)) for column, kind in keys])
    return {"items": [to_record(row) for row in page], "next_cursor": next_cursor}


def where_equal(query, model, filters, names):
    """``query`` narrowed to the rows whose column equals each filter of ``names`` the
    caller gave (a list's plain equality filters: ``status``, ``member_id``...)."""
    for name in names:
        if name in filters:
            query = query.where(getattr(model, name) == filters[name])
    return query
