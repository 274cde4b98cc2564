"""The embedded default, end to end: members started as operators start it with
MEMBERS_DB_URL unset keeps its data in a SQLite file under VAR_DIR, and does
everything it does on PostgreSQL: registers, activates (concurrently, with distinct
numbers), sends its messages, counts."""
from contextlib import ExitStack

import eventlet
import pytest
import sqlalchemy as sa
from nameko.standalone.rpc import ClusterRpcProxy

from tests.support.broker import MEMBER_EVENTS, listening
from tests.support.factories import member_data
from tests.support.services import running_services
from tests.support.identities import admin_context


@pytest.fixture
def sqlite_members(vhost_config, tmp_path, monkeypatch):
    """members on a vhost of its own (so the session's members answers none of these
    calls), its var/ in tmp_path, with a subscriber declared before it publishes."""
    monkeypatch.delenv("MEMBERS_DB_URL", raising=False)  # unset, not just empty
    var_dir = tmp_path / "var"
    config = {**vhost_config, "VAR_DIR": str(var_dir)}
    var_dir.mkdir()
    with listening(config, "members", MEMBER_EVENTS) as messages, \
            running_services(["members"], config, var_dir, databases=None) as processes, \
            ClusterRpcProxy(config, context_data=admin_context(), timeout=30) as rpc:
        yield rpc, messages, config, var_dir, processes["members"]


def test_members_runs_on_a_sqlite_file_under_var_dir(sqlite_members):
    rpc, messages, config, var_dir, _process = sqlite_members

    first = rpc.members.register(member_data(city="Samarinda", subsector="musik"))
    assert first["status"] == "pending"
    active = rpc.members.activate(first["id"])
    assert active["status"] == "active" and active["member_number"]
    assert rpc.members.get_by_number(active["member_number"]) == active
    [activated] = messages.wait_for("member_activated", id=first["id"])
    assert activated["data"] == active and activated["producer"] == "members"

    others = [rpc.members.register(member_data()) for _ in range(5)]

    with ExitStack() as stack:  # connected first, so that the five calls leave together
        proxies = [stack.enter_context(ClusterRpcProxy(config, context_data=admin_context(), timeout=60)) for _ in others]
        activated_together = list(eventlet.GreenPool(5).imap(
            lambda proxy, member: proxy.members.activate(member["id"]), proxies, others))
    numbers = {m["member_number"] for m in activated_together} | {active["member_number"]}
    assert len(numbers) == 6
    messages.wait_for("member_activated", count=6)

    stats = rpc.members.stats()
    assert stats["total"] == 6
    assert stats["by_status"] == {"pending": 0, "active": 6, "suspended": 0, "lapsed": 0}
    assert stats["by_city"] == {"Samarinda": 1, "Balikpapan": 5}
    assert stats["by_subsector"] == {"musik": 1, "kuliner": 5}
    assert [m["id"] for m in rpc.members.list({"city": "samarinda"})["items"]] == [first["id"]]

    database = var_dir / "members.db"
    assert database.is_file()
    engine = sa.create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:  # the members are in that file
            assert connection.execute(sa.text("SELECT count(*) FROM members")).scalar() == 6
    finally:
        engine.dispose()
