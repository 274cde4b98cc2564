"""What only the RPC layer can get wrong: the shape of a call's arguments. Too many,
too few, an unknown keyword or one given twice is a ValidationError naming the
argument (``_arguments`` for surplus positional ones), for every members method, and
changes nothing. What the arguments hold is checked in-process, row by row, in
tests/usecases/test_members_bad_input.py."""
import json

import pytest

from tests.support.calls import remote_error
from tests.support.factories import member_data

ACTIVE = object()  # stands for the active member's id, made once per module


def rows():
    table = []

    def row(method, args=(), kwargs=None, field=None):
        name = f"{method}-{len(args)}args-{'-'.join(kwargs or {}) or 'nokw'}"
        table.append(pytest.param(method, args, kwargs or {}, field, id=name))

    row("register", field="data")
    row("register", (member_data(), "extra"), field="_arguments")
    row("register", kwargs={"data": member_data(), "extra": 1}, field="extra")
    for method in ("get", "activate", "reinstate", "renew"):
        row(method, field="member_id")
        row(method, (ACTIVE, "extra"), field="_arguments")
        row(method, (ACTIVE,), {"colour": "red"}, field="colour")
        row(method, (ACTIVE,), {"member_id": ACTIVE}, field="member_id")
    row("get_by_number", field="member_number")
    row("list", ({}, "extra"), field="_arguments")
    row("list", kwargs={"filters": {}, "colour": "red"}, field="colour")
    row("update_profile", (ACTIVE,), field="changes")
    row("update_profile", (ACTIVE, {"city": "Bontang"}, "extra"), field="_arguments")
    row("suspend", (ACTIVE,), field="reason")
    row("suspend", (ACTIVE, "iuran", "extra"), field="_arguments")
    row("expire_due", (None, "extra"), field="_arguments")
    row("expire_due", kwargs={"colour": "red"}, field="colour")
    for method in ("stats", "list_subsectors"):
        row(method, ("x",), field="_arguments")
        row(method, kwargs={"colour": "red"}, field="colour")
    return table


@pytest.fixture(scope="module")
def active(rpc):
    return rpc.members.activate(rpc.members.register(member_data())["id"])


def with_id(value, member_id):
    if value is ACTIVE:
        return member_id
    if isinstance(value, tuple):
        return tuple(with_id(item, member_id) for item in value)
    if isinstance(value, dict):
        return {key: with_id(item, member_id) for key, item in value.items()}
    return value


@pytest.mark.parametrize("method, args, kwargs, field", rows())
def test_a_call_of_the_wrong_shape_names_the_argument_and_changes_nothing(
        rpc, active, method, args, kwargs, field):
    args, kwargs = with_id(args, active["id"]), with_id(kwargs, active["id"])
    total = rpc.members.stats()["total"]

    error = remote_error(lambda: getattr(rpc.members, method)(*args, **kwargs))

    assert error.exc_type == "ValidationError", error
    assert field in json.loads(error.value)
    assert rpc.members.get(active["id"]) == active
    assert rpc.members.stats()["total"] == total
