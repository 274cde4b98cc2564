"""Who the tests call as: clients in the run's own client registry.

``base_config`` (tests/conftest.py) gives every run a registry database of its own
and an ``admin`` client in it; the services the tests start read that registry
(``REGISTRY_DB_URL`` in the config). Calls then carry a client's context data:

    with ClusterRpcProxy(config, context_data=admin_context()) as rpc: ...
    member = new_client(["member"], member_id=siti["id"])
    with ClusterRpcProxy(config, context_data=member) as rpc: ...

``client_file(tmp_path, context)`` writes a client file for ``ekraf`` and the demo
(``EKRAF_CLIENT_FILE``).
"""
import json
import uuid

from shared import registry
from shared.db import make_engine

_state = {}


def open_test_registry(url):
    """Migrate the run's registry and make its admin client; remember both."""
    engine = make_engine(url, pool_size=1, max_overflow=2)
    registry.upgrade_to_head(engine, "registry", registry.MIGRATIONS_DIR)
    _, token = registry.add_client(engine, f"test-admin-{uuid.uuid4().hex[:6]}", ["admin"])
    _state.update(url=url, engine=engine, admin={"auth_token": token})
    return engine


def close_test_registry():
    engine = _state.pop("engine", None)
    if engine is not None:
        engine.dispose()


def admin_context():
    """The context data of the run's admin client (needs the base_config fixture)."""
    if "admin" not in _state:
        raise RuntimeError("no client registry yet: use the base_config fixture (or one "
                           "derived from it) before calling services")
    return dict(_state["admin"])


def registry_engine():
    admin_context()
    return _state["engine"]


def new_client(roles, member_id=None, assessor_id=None, name=None, user_id=None):
    """A new client with ``roles``; returns its context data (with ``user_id`` if given)."""
    name = name or f"test-{'-'.join(sorted(roles))}-{uuid.uuid4().hex[:8]}"
    _, token = registry.add_client(registry_engine(), name, roles, member_id, assessor_id)
    context = {"auth_token": token}
    if user_id is not None:
        context["user_id"] = user_id
    return context


def client_name(context):
    """The registered name of the client whose context data this is."""
    client_id = context["auth_token"].split(".")[1]
    return registry.load_one(registry_engine(), client_id).name


def revoke(context):
    registry.revoke_client(registry_engine(), client_name(context))


def admin_client_file():
    """A client file of the run's admin client (made once), for ``EKRAF_CLIENT_FILE``."""
    if "admin_file" not in _state:
        import tempfile
        from pathlib import Path

        _state["admin_file"] = client_file(Path(tempfile.mkdtemp(prefix="ekraf-test-")))
    return str(_state["admin_file"])


def client_file(folder, context=None, amqp_uri=""):
    """A client file (what `ekraf clients add --json` prints) for ``EKRAF_CLIENT_FILE``."""
    path = folder / f"client-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps({"name": "test", "roles": ["admin"], "amqp_uri": amqp_uri,
                                "context_data": context or admin_context()}))
    path.chmod(0o600)
    return path
