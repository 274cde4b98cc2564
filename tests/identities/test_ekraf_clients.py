"""``ekraf clients`` and ``ekraf audit`` as an operator runs them (the installed command,
in a process of its own), against the running services and the run's registry."""
import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

import sqlalchemy as sa
from nameko.standalone.rpc import ClusterRpcProxy

from shared.registry import list_clients

from tests.identities.calling import forbidden, wait_for_next_second
from tests.support.calls import outcome_of
from tests.support.factories import member_data
from tests.support.identities import client_file, client_name, new_client, registry_engine
from tests.support.waiting import wait_until

EKRAF = str(Path(sys.executable).parent / "ekraf")
ROOT = Path(__file__).resolve().parents[2]


def ekraf_process(config, *args, **env):
    """``ekraf *args`` started with the services' environment (broker, registry, var/)."""
    return subprocess.Popen(
        [EKRAF, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "AMQP_URI": config["AMQP_URI"],
             "REGISTRY_DB_URL": config["REGISTRY_DB_URL"], "VAR_DIR": config["VAR_DIR"],
             "PYTHONWARNINGS": "ignore", "COLUMNS": "200", **env})


def finished(process, timeout=60):
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def ekraf(config, *args, **env):
    """``(exit code, stdout, stderr)`` of ``ekraf *args``."""
    return finished(ekraf_process(config, *args, **env))


def test_a_client_ekraf_adds_calls_as_itself_until_revoked(
        base_config, rpc, certification_service, events_service, notifications_service,
        tmp_path):
    name = f"front-desk-{uuid.uuid4().hex[:6]}"
    code, out, err = ekraf(base_config, "clients", "add", name, "--role", "registrar", "--json")
    assert code == 0, err
    assert len(out.strip().splitlines()) == 1, out  # exactly one JSON object
    client = json.loads(out)
    assert set(client) == {"name", "roles", "amqp_uri", "context_data"}
    assert client["name"] == name and client["roles"] == ["registrar"]
    assert client["amqp_uri"] == base_config["AMQP_URI"]
    token = client["context_data"]["auth_token"]
    secret = token.split(".")[2]

    # A plain nameko client with nothing but that object acts as the client.
    with ClusterRpcProxy({"AMQP_URI": client["amqp_uri"]}, context_data=client["context_data"],
                         timeout=20) as proxy:
        member = proxy.members.register(member_data())
        assert proxy.members.activate(member["id"])["status"] == "active"
        # The trail's times are whole seconds, and ekraf audit orders the entries of one
        # second by service: the refusal a second later has one order only.
        wait_for_next_second()
        assert f"client {name} (roles: registrar) may not call certification.revoke" in \
            forbidden(proxy.certification.revoke, "EKRAF-X", "tidak berhak")

        wait_until(lambda: rpc.certification.audit_log({"client": name})["items"],
                   message="the refusal's entry")  # written just after the answer

        # Listed, never with its secret; the trail of its calls, the services' merged in
        # time order (an auditor reads it). Both at once: each takes seconds to start.
        listing = ekraf_process(base_config, "clients", "list")
        auditing = ekraf_process(base_config, "audit", "--client", name, "--json",
                                 EKRAF_CLIENT_FILE=str(client_file(
                                     tmp_path, new_client(["auditor"]))))
        code, table, err = finished(listing)
        assert code == 0, err
        row, = [line for line in table.splitlines() if name in line]
        assert "registrar" in row
        assert secret not in table and token not in table

        code, out, err = finished(auditing)
        assert code == 0, err
        entries = json.loads(out)
        assert [(e["service"], e["method"], e["outcome"]) for e in entries] == [
            ("members", "members.register", "ok"), ("members", "members.activate", "ok"),
            ("certification", "certification.revoke", "Forbidden")]
        assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)
        assert all(e["client"] == name for e in entries)
        assert member["id"] in entries[0]["records"]

        # The registry keeps the secret's hash, never the secret.
        with registry_engine().connect() as connection:
            rows = connection.execute(sa.text(
                "SELECT row_to_json(c)::text FROM clients c")).scalars().all()
        assert any(token.split(".")[1] in row and hashlib.sha256(secret.encode()).hexdigest()
                   in row for row in rows)
        assert not any(secret in row for row in rows)

        # Revoked: refused within seconds.
        code, _, err = ekraf(base_config, "clients", "revoke", name)
        assert code == 0, err
        revoked_at = time.monotonic()
        wait_until(lambda: outcome_of(proxy.members.list, {"limit": 1}) == "Forbidden",
                   timeout=15, interval=0.1, message="the revoked client refused")
        assert time.monotonic() - revoked_at < 10
    assert name not in {record["name"] for record in list_clients(registry_engine())}


def test_ekraf_refuses_a_client_it_cannot_make_and_makes_none(base_config, rpc,
                                                              members_service):
    before = {record["name"] for record in list_clients(registry_engine())}
    no_such_member = str(uuid.uuid4())
    prefix = f"bad-{uuid.uuid4().hex[:6]}"
    attempts = {  # name: (options, exit code, what the error says)
        f"{prefix}-role": (["--role", "superuser"], 2, "Unknown role superuser"),
        f"{prefix}-ghost": (["--role", "member", "--member-id", no_such_member], 2,
                            f"no member {no_such_member}; nothing was created"),
        f"{prefix}-uuid": (["--role", "member", "--member-id", "siti-123"], 2,
                           "Must be a UUID."),
        f"{prefix}-unbound": (["--role", "member"], 2, "The member role needs --member-id."),
    }
    # One at a time they would take a few seconds each: all at once.
    running = {name: ekraf_process(base_config, "clients", "add", name, *options, "--json")
               for name, (options, _, _) in attempts.items()}
    for name, process in running.items():
        code, out, err = finished(process)
        _, expected_code, expected = attempts[name]
        assert code == expected_code, (name, code, out, err)
        assert expected in " ".join(err.split()), (name, err)
        assert out == "", (name, out)  # no client object printed
    records = json.loads(ekraf(base_config, "clients", "list", "--json")[1])
    assert {record["name"] for record in records} == before
    assert not {record["name"] for record in records} & set(attempts)
    # The identity ekraf checked --member-id under is gone too.
    with registry_engine().connect() as connection:
        assert connection.execute(sa.text(
            "SELECT count(*) FROM clients WHERE name = 'ekraf'")).scalar_one() == 0


def test_ekraf_audit_keeps_the_order_of_calls_made_within_one_second(
        base_config, rpc, certification_service, events_service, notifications_service,
        tmp_path):
    registrar = new_client(["registrar"])
    name = client_name(registrar)
    with ClusterRpcProxy(base_config, context_data=registrar, timeout=20) as proxy:
        for _ in range(5):  # until both calls fall within one whole second
            since = datetime.now(timezone.utc).isoformat()
            wait_for_next_second()
            proxy.members.register(member_data())  # first members...
            forbidden(proxy.certification.revoke, "EKRAF-X", "tidak berhak")  # ...then this
            made = rpc.members.audit_log({"client": name, "since": since})["items"]
            refused = wait_until(lambda: rpc.certification.audit_log(
                {"client": name, "since": since})["items"], message="the refusal's entry")
            if made[0]["at"][:19] == refused[0]["at"][:19]:
                break
        else:
            pytest.skip("the calls never fell within one second")
    code, out, err = ekraf(base_config, "audit", "--client", name, "--json", "--since", "1m",
                           EKRAF_CLIENT_FILE=str(client_file(tmp_path)))
    assert code == 0, err
    entries = [e for e in json.loads(out) if e["at"][:19] == made[0]["at"][:19]]
    assert [e["method"] for e in entries] == ["members.register", "certification.revoke"]
