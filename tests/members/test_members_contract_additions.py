"""What docs/contract.md adds to the members contract ("Where this project's contract
differs"): the 1 MiB request limit, update_profile that changes nothing, the
``changed_fields`` of member_updated, and the precision of times."""
import json
import re
from datetime import datetime

import pytest

from shared.entrypoints import MAX_REQUEST_BYTES
from tests.support.member_messages import let_stray_messages_arrive, messages_about
from tests.support.broker import raw_rpc
from tests.support.calls import remote_error
from tests.support.factories import member_data


@pytest.fixture
def member(rpc):
    return rpc.members.register(member_data(business_name="Amplang Bu Tini"))


# -- a request larger than 1 MiB -----------------------------------------------------

def register_body(size, filler="x"):
    """A register request of exactly ``size`` bytes of UTF-8 whose business_name is
    far too long (so that, when the request is read at all, that is its error)."""
    data = member_data(business_name="")
    template = json.dumps({"args": [data], "kwargs": {}}, ensure_ascii=False)
    spare = size - len(template.encode())
    count, odd = divmod(spare, len(filler.encode()))
    body = template.replace('"business_name": ""',
                            f'"business_name": "{"x" * odd}{filler * count}"')
    assert len(body.encode()) == size
    return body


# py-amqp hands the service a body with a content_encoding already decoded to str:
# the limit must count its bytes, not its characters (a client that sends UTF-8 as it
# is, unlike the nameko client's \u00e9 escapes, would otherwise get up to 4 MiB in).
@pytest.mark.parametrize("filler", ["x", "é"], ids=["ascii", "two-byte-utf8"])
def test_a_request_over_1_mib_is_a_validation_error_on_request(rpc, base_config, filler):
    before = rpc.members.stats()

    error = raw_rpc(base_config["AMQP_URI"], "members.register",
                    register_body(MAX_REQUEST_BYTES + 1, filler), timeout=30)
    assert error["exc_type"] == "ValidationError"
    assert list(json.loads(error["value"])) == ["_request"]

    # The limit is the request's size in bytes: one byte less is read, and refused
    # for what it says.
    error = raw_rpc(base_config["AMQP_URI"], "members.register",
                    register_body(MAX_REQUEST_BYTES, filler), timeout=30)
    assert error["exc_type"] == "ValidationError"
    assert list(json.loads(error["value"])) == ["business_name"]
    assert rpc.members.stats() == before


def test_a_request_over_1_mib_through_the_client_writes_nothing(rpc, member, member_messages):
    before = rpc.members.stats()
    huge = "Kopi " * (MAX_REQUEST_BYTES // 5 + 1)

    error = remote_error(rpc.members.register, member_data(business_name=huge))
    assert error.exc_type == "ValidationError"
    assert "_request" in json.loads(error.value)
    error = remote_error(rpc.members.update_profile, member["id"], {"business_name": huge})
    assert error.exc_type == "ValidationError"
    assert "_request" in json.loads(error.value)

    assert rpc.members.get(member["id"]) == member
    assert rpc.members.stats() == before
    assert rpc.members.list_subsectors()  # still answering


# -- update_profile that changes nothing ---------------------------------------------

def test_update_profile_with_the_current_values_changes_nothing_and_sends_nothing(
        rpc, member, member_messages):
    member_messages.wait_for("member_registered", id=member["id"])
    national = member["phone"][len("+62"):]
    same = [
        {"city": member["city"]},
        {"email": member["email"].upper()},  # emails are kept lower-case
        {"phone": f"0{national[:3]}-{national[3:7]}-{national[7:]}"},  # the same number
        {"full_name": f"  {member['full_name']} "},  # text is trimmed
        {"locale": "id", "province": "Kalimantan Timur", "nib": None,
         "business_name": member["business_name"]},
    ]
    for changes in same:
        assert rpc.members.update_profile(member["id"], changes) == member, changes

    assert rpc.members.get(member["id"]) == member  # updated_at included
    let_stray_messages_arrive(rpc, member_messages)
    assert member_messages.of_type("member_updated", id=member["id"]) == []
    assert len(messages_about(member_messages, {member["id"]})) == 1  # member_registered


# -- changed_fields ------------------------------------------------------------------

def test_member_updated_names_exactly_the_fields_that_changed(rpc, member, member_messages):
    updated = rpc.members.update_profile(member["id"], {
        "city": "Samarinda",                   # changed
        "locale": "en",                        # changed
        "business_name": None,                 # changed: cleared
        "email": member["email"].upper(),      # the same, once lower-cased
        "full_name": member["full_name"],      # the same
    })
    assert updated["city"] == "Samarinda" and updated["business_name"] is None
    assert updated["updated_at"] > member["updated_at"]

    [message] = member_messages.wait_for("member_updated", id=member["id"])
    assert message["data"]["changed_fields"] == ["business_name", "city", "locale"]
    assert {k: v for k, v in message["data"].items() if k != "changed_fields"} == updated

    rpc.members.update_profile(member["id"], {"phone": "0541 123456", "city": "Samarinda"})
    [_, second] = member_messages.wait_for("member_updated", count=2, id=member["id"])
    assert second["data"]["changed_fields"] == ["phone"]
    assert second["data"]["phone"] == "+62541123456"


# -- times -----------------------------------------------------------------------------

def test_times_are_utc_with_an_offset_created_and_updated_to_the_microsecond(rpc):
    members = [rpc.members.activate(rpc.members.register(member_data())["id"])
               for _ in range(3)]
    precise = []
    for member in members:
        for name in ("created_at", "updated_at", "active_since", "valid_until"):
            assert member[name].endswith("+00:00"), (name, member[name])
            assert datetime.fromisoformat(member[name]).utcoffset().total_seconds() == 0
        for name in ("active_since", "valid_until"):  # to the second
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", member[name]), name
        precise += [datetime.fromisoformat(member[name]).microsecond
                    for name in ("created_at", "updated_at")]
    # Microseconds are kept: six readings all on a whole second would be a
    # one-in-10^36 coincidence.
    assert any(precise)
    assert members[0]["created_at"] < members[1]["created_at"] < members[2]["created_at"]
