"""Schemes (skema): what a member can be certified in, unit by unit."""
from sqlalchemy import select

from services.certification.models import Scheme
from services.certification.schemas import create_scheme_schema, scheme_filters_schema
from shared.db import flush_or_conflict, get_or_not_found
from shared.errors import Conflict, ValidationError
from shared.pagination import paginate, where_equal
from shared.schemas import SCHEME_CODE, load
from shared.timeutil import utcnow_precise


def _scheme_code_arg(code):
    if not isinstance(code, str) or not SCHEME_CODE.fullmatch(code):
        raise ValidationError.field("code", "Not a scheme code (e.g. DKV-JUNIOR).")
    return code


def create_scheme(session, data):
    fields = load(create_scheme_schema, data)
    if session.get(Scheme, fields["code"]) is not None:
        raise Conflict(f"scheme {fields['code']} exists")
    scheme = Scheme(created_at=utcnow_precise(), **fields)
    session.add(scheme)
    flush_or_conflict(session, f"scheme {fields['code']} exists")
    return scheme.to_record()


def get_scheme(session, code):
    scheme = get_or_not_found(session, Scheme, _scheme_code_arg(code), f"no scheme {code}")
    return scheme.to_record()


def list_schemes(session, filters):
    filters = load(scheme_filters_schema, filters, field_name="filters")
    query = where_equal(select(Scheme), Scheme, filters, ("subsector",))
    return paginate(session, query, [(Scheme.code, "str")], filters["limit"], filters["cursor"])


def known_scheme(session, code, field="scheme_code"):
    """The scheme an input names; an unknown one is the input's fault (``ValidationError``)."""
    scheme = session.get(Scheme, code)
    if scheme is None:
        raise ValidationError.field(field, f"Unknown scheme {code}.")
    return scheme
