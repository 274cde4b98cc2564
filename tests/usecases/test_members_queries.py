"""members.list and members.stats, in-process: filters, search, pages and counts,
exact because a test sees only its own members."""
import pytest

from services.members.service import MembersService
from shared.errors import ValidationError
from shared.schemas import encode_cursor
from tests.support.factories import member_data
from tests.support.usecases import InWorker, ids


@pytest.fixture
def members(session_of):
    return InWorker(MembersService, session_of("members"))


def test_list_filters_and_pages(members):
    created = [members.register(member_data(full_name=f"Penenun Tenun {i}", city="Bontang",
                                            subsector="kriya")) for i in range(5)]
    other = members.register(member_data(city="Samarinda", subsector="musik"))
    members.activate(created[0]["id"])

    first = members.list({"q": "PENENUN", "limit": 2})
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = members.list({"q": "penenun", "limit": 2, "cursor": first["next_cursor"]})
    third = members.list({"q": "penenun", "limit": 2, "cursor": second["next_cursor"]})
    assert third["next_cursor"] is None
    assert ids(first) + ids(second) + ids(third) == [m["id"] for m in created]

    assert ids(members.list({"q": "penenun", "status": "active"})) == [created[0]["id"]]
    assert ids(members.list({"city": "bontang", "subsector": "kriya"})) == \
        [m["id"] for m in created]
    assert ids(members.list({"subsector": "musik"})) == [other["id"]]
    assert members.list({"q": "penenun", "subsector": "musik"})["items"] == []
    assert ids(members.list()) == [m["id"] for m in created] + [other["id"]]


def test_list_searches_business_name_and_escapes_wildcards(members):
    member = members.register(member_data(business_name="Amplang Samarinda Snack"))
    members.register(member_data(business_name="Amplang_Samarinda"))
    assert ids(members.list({"q": "amplang samarinda"})) == [member["id"]]
    assert members.list({"q": "amplang%"})["items"] == []
    assert len(members.list({"q": "amplang_"})["items"]) == 1  # _ is a character, not any


@pytest.mark.parametrize("filters, field", [
    ({"limit": 0}, "limit"), ({"limit": 201}, "limit"), ({"limit": "10"}, "limit"),
    ({"status": "gone"}, "status"), ({"subsector": "x"}, "subsector"),
    ({"cursor": "not-a-cursor"}, "cursor"), ({"colour": "red"}, "colour"),
    ("not a dict", "filters"),
])
def test_list_rejects_bad_filters(members, filters, field):
    with pytest.raises(ValidationError) as raised:
        members.list(filters)
    assert field in raised.value.errors


def test_list_pages_default_to_fifty_and_allow_two_hundred(members):
    for _ in range(201):
        members.register(member_data())
    page = members.list()
    assert len(page["items"]) == 50 and page["next_cursor"]
    all_but_one = members.list({"limit": 200})
    assert len(all_but_one["items"]) == 200
    last = members.list({"limit": 200, "cursor": all_but_one["next_cursor"]})
    assert len(last["items"]) == 1 and last["next_cursor"] is None


@pytest.mark.parametrize("forged", [
    ["0001-01-01T00:00:00+14:00", "6f1c1d4e-8b7a-4c2e-9a3b-000000000000"],
    ["2026-11-28T03:00:00+00:00", "x\x00y"],
    ["2026-11-28T03:00:00+00:00", 5],
])
def test_list_rejects_cursors_with_forged_contents(members, forged):
    with pytest.raises(ValidationError) as raised:
        members.list({"cursor": encode_cursor(forged)})
    assert "cursor" in raised.value.errors


def test_stats_counts_by_status_subsector_and_city(members):
    a = members.register(member_data(city="Bontang", subsector="musik"))
    members.register(member_data(city="Bontang", subsector="musik"))
    members.register(member_data(city="Samarinda", subsector="kuliner"))
    members.activate(a["id"])
    stats = members.stats()
    assert stats["total"] == 3
    assert stats["by_city"] == {"Bontang": 2, "Samarinda": 1}
    assert stats["by_subsector"] == {"musik": 2, "kuliner": 1}
    assert {status: n for status, n in stats["by_status"].items() if n} == \
        {"active": 1, "pending": 2}
    assert sum(stats["by_status"].values()) == 3
