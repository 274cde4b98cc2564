"""The client registry (shared/registry.py) on a real PostgreSQL database of its own:
adding, rotating, revoking clients, and a service's view of them (ClientDirectory)."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from shared import registry
from shared.db import make_engine
from shared.errors import Forbidden, InternalError, ValidationError
from shared.timeutil import utcnow


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def engine(fresh_db_url):
    engine = make_engine(fresh_db_url, pool_size=1, max_overflow=2)
    registry.upgrade_to_head(engine, "registry", registry.MIGRATIONS_DIR)
    yield engine
    engine.dispose()


@pytest.fixture
def directory(engine):
    clock = Clock()
    directory = registry.ClientDirectory(engine, clock=clock)
    directory.refresh()
    directory.clock_ = clock
    return directory


def as_context(token, **more):
    return {"auth_token": token, **more}


def test_a_client_is_resolved_to_its_name_roles_and_binding(engine, directory):
    record, token = registry.add_client(engine, "app-siti", ["member"],
                                        member_id="0b6f1c1e-0000-4000-8000-000000000001")
    assert record["roles"] == ["member"] and record["name"] == "app-siti"
    caller = directory.resolve(as_context(token, user_id="siti"))
    assert caller.client == "app-siti" and caller.roles == {"member"}
    assert caller.member_id == "0b6f1c1e-0000-4000-8000-000000000001"
    assert caller.user_id == "siti" and caller.kind == "client"


def test_only_a_hash_of_the_secret_is_stored(engine):
    _, token = registry.add_client(engine, "front-desk", ["registrar"])
    secret = token.split(".")[2]
    with engine.connect() as connection:
        rows = connection.execute(sa.select(registry.clients)).all()
    stored = " ".join(str(value) for row in rows for value in row)
    assert secret not in stored and token not in stored
    assert registry.list_clients(engine)[0].keys() == {
        "id", "name", "roles", "member_id", "assessor_id", "created_at", "revoked_at"}


def test_a_forged_token_is_refused(engine, directory):
    _, token = registry.add_client(engine, "front-desk", ["registrar"])
    client_id = token.split(".")[1]
    wrong_secret = f"ekc.{client_id}.{'A' * 43}"
    unknown_id = f"ekc.{'0' * 32}.{token.split('.')[2]}"
    for forged in (wrong_secret, unknown_id):
        with pytest.raises(Forbidden, match="unknown, revoked or expired"):
            directory.resolve(as_context(forged))


def test_a_revoked_client_is_refused_after_the_next_refresh(engine, directory):
    _, token = registry.add_client(engine, "front-desk", ["registrar"])
    directory.refresh()
    assert directory.resolve(as_context(token)).client == "front-desk"
    registry.revoke_client(engine, "front-desk")
    assert directory.refresh() is True  # the version moved
    with pytest.raises(Forbidden):
        directory.resolve(as_context(token))
    assert directory.refresh() is False  # nothing new: nothing reloaded


def test_a_rotated_secret_works_at_once_and_the_old_one_stops(engine, directory):
    _, old = registry.add_client(engine, "lsp-office", ["lsp-admin"])
    directory.refresh()
    _, new = registry.rotate_secret(engine, "lsp-office")
    assert directory.resolve(as_context(new)).client == "lsp-office"  # before any refresh
    directory.refresh()
    with pytest.raises(Forbidden):
        directory.resolve(as_context(old))


def test_a_client_added_after_the_last_refresh_is_looked_up_at_once(engine, directory):
    _, token = registry.add_client(engine, "late", ["auditor"])
    assert directory.resolve(as_context(token)).client == "late"


def test_lookups_of_unknown_ids_are_rate_limited(engine, directory):
    calls = []
    real = registry.load_one
    registry.load_one = lambda engine, client_id: calls.append(client_id) or real(engine,
                                                                                  client_id)
    try:
        for number in range(registry.LOOKUPS_PER_SECOND + 15):
            with pytest.raises(Forbidden):
                directory.resolve(as_context(f"ekc.{number:032x}.{'a' * 43}"))
    finally:
        registry.load_one = real
    assert len(calls) == registry.LOOKUPS_PER_SECOND


def test_a_registry_not_read_for_too_long_refuses_everything(engine, directory):
    _, token = registry.add_client(engine, "front-desk", ["registrar"])
    directory.refresh()
    directory.clock_.now += registry.STALE_AFTER_SECONDS + 1
    with pytest.raises(InternalError, match="client registry cannot be read"):
        directory.resolve(as_context(token))
    directory.refresh()
    assert directory.resolve(as_context(token)).client == "front-desk"


def test_names_are_unique_among_active_clients_and_free_again_once_revoked(engine):
    registry.add_client(engine, "front-desk", ["registrar"])
    with pytest.raises(registry.RegistryError, match="exists"):
        registry.add_client(engine, "front-desk", ["auditor"])
    registry.revoke_client(engine, "front-desk")
    registry.add_client(engine, "front-desk", ["auditor"])
    assert [c["roles"] for c in registry.list_clients(engine, include_revoked=True)] == [
        ["registrar"], ["auditor"]]
    assert len(registry.list_clients(engine)) == 1
    with pytest.raises(registry.RegistryError, match="no client named nobody"):
        registry.revoke_client(engine, "nobody")


@pytest.mark.parametrize("name, roles, member_id, assessor_id, field", [
    ("Front Desk", ["registrar"], None, None, "name"),
    ("x" * 65, ["registrar"], None, None, "name"),
    ("front-desk", [], None, None, "roles"),
    ("front-desk", ["superuser"], None, None, "roles"),
    ("front-desk", ["service"], None, None, "roles"),
    ("app", ["member"], None, None, "member_id"),
    ("app", ["member"], "not-a-uuid", None, "member_id"),
    ("tablet", ["assessor"], None, None, "assessor_id"),
    ("desk", ["registrar"], "0b6f1c1e-0000-4000-8000-000000000001", None, "member_id"),
])
def test_a_client_that_cannot_be_is_refused_and_nothing_is_created(
        engine, name, roles, member_id, assessor_id, field):
    with pytest.raises(ValidationError) as raised:
        registry.add_client(engine, name, roles, member_id, assessor_id)
    assert list(raised.value.errors) == [field]
    assert registry.list_clients(engine, include_revoked=True) == []


def test_a_service_process_identity_lapses_without_a_heartbeat(engine, directory):
    client_id, token = registry.start_service_identity(engine, "certification")
    caller = directory.resolve(as_context(token, on_behalf_of="lsp-office"))
    assert caller.client == "certification" and caller.roles == {"service"}
    assert caller.on_behalf_of == "lsp-office"
    with engine.begin() as connection:
        connection.execute(registry.clients.update().values(
            seen_at=utcnow() - registry.SERVICE_IDENTITY_TTL - timedelta(seconds=1)))
        registry._bump(connection)
    directory.refresh()
    with pytest.raises(Forbidden):
        directory.resolve(as_context(token))
    registry.heartbeat(engine, client_id)
    assert directory.resolve(as_context(token)).client == "certification"
    registry.end_service_identity(engine, client_id)
    directory.refresh()
    with pytest.raises(Forbidden):
        directory.resolve(as_context(token))
    assert registry.list_clients(engine) == []  # services are not listed as clients


def test_a_long_refresh_interval_does_not_make_calls_between_refreshes_fail(engine):
    clock = Clock()
    directory = registry.ClientDirectory(engine, refresh_seconds=10.0, clock=clock)
    directory.refresh()
    _, token = registry.add_client(engine, "front-desk", ["registrar"])
    clock.now += 9.9  # just before the next refresh is due
    assert directory.resolve(as_context(token)).client == "front-desk"
    clock.now += 4 * 10.0
    with pytest.raises(InternalError):
        directory.resolve(as_context(token))
