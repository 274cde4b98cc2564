"""``ekraf clients`` (who may call the platform), ``ekraf audit`` (who did what), and
whom ``ekraf`` itself calls as.

``ekraf`` calls as the client in the file ``EKRAF_CLIENT_FILE`` names, else as the
``admin`` client kept in ``VAR_DIR/ekraf-admin.json`` (owner-only), which ``ekraf up``
(``make run``) makes on first start. A client file is the JSON object
``ekraf clients add --json`` prints: ``{"name", "roles", "amqp_uri", "context_data"}``.

``ekraf clients`` needs nothing but the services' environment: it writes the client
registry directly (``REGISTRY_DB_URL``), so the first admin of a fresh deployment is
made this way. Secrets are printed once and never stored.
"""
import dataclasses
import json
import os
import sys
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import click
from rich.table import Table

from ekraf.cli import (SERVICES, check_broker, cli, console, err, load, parse_duration,
                       rpc_call)

ADMIN_CLIENT = "admin"
ADMIN_CLIENT_FILE = "ekraf-admin.json"


# -- the registry, and whom ekraf calls as ----------------------------------------------

def settings_for_registry(config):
    """The settings, with the registry ``ekraf up`` made when ``REGISTRY_DB_URL`` is
    unset (``ekraf_registry`` on local PostgreSQL, else SQLite under ``VAR_DIR``)."""
    from devtools import run
    from shared.settings import Settings

    settings = Settings.from_config(config)
    if not settings.REGISTRY_DB_URL:
        url = run.local_database_url("registry", os.environ)
        if url:
            settings = dataclasses.replace(settings, REGISTRY_DB_URL=url)
    return settings


def open_registry(config):
    from shared.registry import open_registry as open_it

    try:
        return open_it(settings_for_registry(config))
    except Exception as error:
        raise click.ClickException(
            f"the client registry cannot be opened ({type(error).__name__}); is "
            "REGISTRY_DB_URL right and its database up?") from None


def client_object(record, amqp_uri, token):
    """What a client needs, exactly as ``--json`` prints it and ``EKRAF_CLIENT_FILE``
    holds it."""
    return {"name": record["name"], "roles": record["roles"], "amqp_uri": amqp_uri,
            "context_data": {"auth_token": token}}


def write_client_file(path, client):
    """Write a client file readable by its owner only (it holds a secret)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as stream:
        json.dump(client, stream, indent=2)
        stream.write("\n")
    os.chmod(path, 0o600)


def admin_client_path(settings):
    from shared.config import var_dir

    return Path(var_dir(settings)) / ADMIN_CLIENT_FILE


def ensure_admin_client(config, amqp_uri):
    """The ``admin`` client's file under ``VAR_DIR``, made (or its secret renewed, when
    the file is gone or no longer valid) so that ``ekraf`` and the demo can call.
    Returns ``(path, made)``."""
    from shared.registry import RegistryError, add_client, rotate_secret, token_is_active

    settings = settings_for_registry(config)
    path = admin_client_path(settings)
    engine = open_registry(config)
    try:
        if path.exists():
            try:
                token = json.loads(path.read_text())["context_data"]["auth_token"]
                if token_is_active(engine, token):
                    return path, False
            except (ValueError, KeyError, TypeError):
                pass
        try:
            record, token = add_client(engine, ADMIN_CLIENT, ["admin"])
        except RegistryError:  # an admin whose secret we do not have: give it a new one
            record, token = rotate_secret(engine, ADMIN_CLIENT)
        write_client_file(path, client_object(record, amqp_uri, token))
        return path, True
    finally:
        engine.dispose()


def calling_as(config):
    """The context data ``ekraf`` sends: the client file's, or a usage error saying
    how to get one."""
    from shared.settings import Settings

    named = os.environ.get("EKRAF_CLIENT_FILE")
    path = Path(named) if named else admin_client_path(Settings.from_config(config))
    try:
        client = json.loads(path.read_text())
        context_data = client["context_data"]
        if not isinstance(context_data, dict) or not isinstance(
                context_data.get("auth_token"), str):
            raise ValueError
    except FileNotFoundError:
        raise click.ClickException(
            f"no client to call as: {path} does not exist. Set EKRAF_CLIENT_FILE to a file "
            "`ekraf clients add NAME --role ROLE --json` printed, or make the admin client "
            "with `ekraf clients add admin --role admin --json > FILE`, or start the "
            "services with `ekraf up` (it makes one)") from None
    except (ValueError, KeyError, TypeError):
        raise click.ClickException(
            f"{path} is not a client file (the JSON object `ekraf clients add --json` "
            "prints, with context_data.auth_token)") from None
    return context_data


@contextmanager
def checking_identity(engine):
    """A short-lived identity of ``ekraf`` itself (role ``auditor``: it may read, and
    only read), for the checks ``ekraf clients add`` makes before writing."""
    from shared.access import AUDITOR
    from shared.registry import end_service_identity, start_service_identity

    client_id, token = start_service_identity(engine, "ekraf", roles=(AUDITOR,))
    try:
        yield {"auth_token": token}
    finally:
        end_service_identity(engine, client_id)


def check_bound_records(config, engine, member_id, assessor_id):
    """``--member-id`` and ``--assessor-id`` must name real records."""
    from shared.errors import NotFound

    if member_id is None and assessor_id is None:
        return
    from nameko.exceptions import RemoteError, RpcTimeout, UnknownService
    from nameko.standalone.rpc import ClusterRpcProxy

    checks = [("members", "get", member_id, "--member-id", "member"),
              ("certification", "get_assessor", assessor_id, "--assessor-id", "assessor")]
    with checking_identity(engine) as context_data:
        with ClusterRpcProxy(config, context_data=context_data, timeout=15) as rpc:
            for service, method, value, option, what in checks:
                if value is None:
                    continue
                try:
                    getattr(getattr(rpc, service), method)(value)
                except (NotFound, RemoteError) as error:
                    kind = getattr(error, "exc_type", None) or type(error).__name__
                    if kind in ("NotFound", "ValidationError"):
                        raise click.BadParameter(f"no {what} {value}; nothing was created",
                                                 param_hint=option) from None
                    raise click.ClickException(f"{service}.{method} refused the check "
                                               f"({kind}); nothing was created") from None
                except (RpcTimeout, UnknownService):
                    raise click.ClickException(
                        f"{service} did not answer, so {option} cannot be checked; nothing "
                        "was created (start the services, `ekraf status`)") from None


# -- ekraf clients --------------------------------------------------------------------

@cli.group()
def clients():
    """Who may call the platform: add, list, rotate and revoke clients (docs/operations.md)."""


@clients.command("add")
@click.argument("name")
@click.option("--role", "roles", multiple=True, required=True, metavar="ROLE",
              help="admin, registrar, lsp-admin, assessor, events-staff, member, auditor or "
                   "operator; repeat for several")
@click.option("--member-id", help="with --role member: the member this client is")
@click.option("--assessor-id", help="with --role assessor: the assessor this client is")
@click.option("--amqp-uri", help="the client's own RabbitMQ login to hand over (default: "
                                 "the AMQP_URI ekraf was given)")
@click.option("--json", "as_json", is_flag=True, help="print exactly one JSON object: "
                                                      "name, roles, amqp_uri, context_data")
@click.pass_context
def clients_add(ctx, name, roles, member_id, assessor_id, amqp_uri, as_json):
    """Add a client; print, once, what it needs to call (its token is not kept).

    \b
    ekraf clients add front-desk --role registrar
    ekraf clients add lsp-office --role lsp-admin --json > lsp-office.json
    ekraf clients add assessor-rina --role assessor --assessor-id 5d1c...
    ekraf clients add app-siti --role member --member-id 0b6f1c1e-...
    """
    from shared.errors import ValidationError
    from shared.registry import RegistryError, add_client, check_new_client

    config, uri = load(ctx.parent)
    try:
        check_new_client(name, sorted(set(roles)), member_id, assessor_id)
    except ValidationError as error:
        (field, reasons), = error.errors.items()
        option = {"roles": "--role", "member_id": "--member-id",
                  "assessor_id": "--assessor-id"}.get(field, "NAME")
        raise click.BadParameter(f"{reasons[0]} Nothing was created.", param_hint=option)
    engine = open_registry(config)
    try:
        if member_id or assessor_id:
            check_broker(uri)
            check_bound_records(config, engine, member_id, assessor_id)
        try:
            record, token = add_client(engine, name, roles, member_id, assessor_id)
        except RegistryError as error:
            raise click.ClickException(str(error)) from None
    finally:
        engine.dispose()
    client = client_object(record, amqp_uri or uri, token)
    if as_json:
        click.echo(json.dumps(client))
        return
    err.print(f"[green]client {name} added[/] (roles: {', '.join(record['roles'])}). "
              "Hand it the object below; its token is shown only now, and is not stored "
              "(lost: `ekraf clients rotate " + name + "`):")
    click.echo(json.dumps(client, indent=2))


@clients.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="revoked clients too")
@click.option("--json", "as_json", is_flag=True, help="a JSON array")
@click.pass_context
def clients_list(ctx, include_revoked, as_json):
    """The clients (never their secrets)."""
    from shared.registry import list_clients

    config, _ = load(ctx.parent)
    engine = open_registry(config)
    try:
        records = list_clients(engine, include_revoked)
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps(records))
        return
    table = Table(title="clients")
    for column in ("name", "roles", "bound to", "created", "revoked"):
        table.add_column(column)
    for record in records:
        bound = (f"member {record['member_id']}" if record["member_id"] else
                 f"assessor {record['assessor_id']}" if record["assessor_id"] else "")
        table.add_row(record["name"], ", ".join(record["roles"]), bound,
                      (record["created_at"] or "")[:19], (record["revoked_at"] or "")[:19])
    console.print(table)


@clients.command("revoke")
@click.argument("name")
@click.pass_context
def clients_revoke(ctx, name):
    """Revoke a client: every service refuses it within CLIENTS_REFRESH_SECONDS."""
    from shared.registry import RegistryError, revoke_client

    config, _ = load(ctx.parent)
    engine = open_registry(config)
    try:
        revoke_client(engine, name)
    except RegistryError as error:
        raise click.ClickException(str(error)) from None
    finally:
        engine.dispose()
    console.print(f"client {name} revoked; the services refuse it within seconds")


@clients.command("rotate")
@click.argument("name")
@click.option("--amqp-uri", help="the client's own RabbitMQ login to hand over")
@click.option("--json", "as_json", is_flag=True, help="print exactly one JSON object")
@click.pass_context
def clients_rotate(ctx, name, amqp_uri, as_json):
    """A new secret for a client (same name and roles); the old one stops working."""
    from shared.registry import RegistryError, rotate_secret

    config, uri = load(ctx.parent)
    engine = open_registry(config)
    try:
        record, token = rotate_secret(engine, name)
    except RegistryError as error:
        raise click.ClickException(str(error)) from None
    finally:
        engine.dispose()
    client = client_object(record, amqp_uri or uri, token)
    if as_json:
        click.echo(json.dumps(client))
        return
    err.print(f"[green]client {name} has a new secret[/]; the old one is refused within "
              "seconds. Hand it the object below (shown only now):")
    click.echo(json.dumps(client, indent=2))


# -- ekraf audit ----------------------------------------------------------------------

@cli.command()
@click.option("--service", type=click.Choice(SERVICES), help="only this service's trail")
@click.option("--client", help="only this client's calls")
@click.option("--record", help="only calls that named or changed this record (an id, a number)")
@click.option("--method", help="only this method (e.g. certification.revoke)")
@click.option("--since", default="24h", show_default=True,
              help="only the last 30m, 12h, 7d..., or 'all'")
@click.option("--json", "as_json", is_flag=True, help="a JSON array, oldest first")
@click.option("--timeout", default=30.0, show_default=True, help="seconds each page may take")
@click.pass_context
def audit(ctx, service, client, record, method, since, as_json, timeout):
    """Who changed what, and who was refused: the services' trails merged in time order."""
    config, uri = load(ctx)
    check_broker(uri)
    context_data = calling_as(config)
    filters = {key: value for key, value in (("client", client), ("record", record))
               if value}
    if since != "all":
        filters["since"] = (datetime.now(timezone.utc)
                            - parse_duration(since, "--since")).isoformat()
    services = [service] if service else list(SERVICES)
    if method:
        owner, dot, _ = method.partition(".")
        if dot and owner in SERVICES:
            services = [owner] if not service or service == owner else []
        filters["method"] = method
    entries = []
    for name in services:
        cursor = None
        while True:
            page = rpc_call(config, name, "audit_log", {**filters, "limit": 200,
                                                        **({"cursor": cursor} if cursor else {})},
                            timeout=timeout, context_data=context_data)
            entries.extend(page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                break
    # `at` carries microseconds: calls made within one second keep their order.
    entries.sort(key=lambda entry: (datetime.fromisoformat(entry["at"]), entry["service"],
                                    entry["id"]))
    if as_json:
        click.echo(json.dumps(entries, ensure_ascii=False))
        return
    table = Table(title=f"audit trail ({len(entries)} entries)")
    for column in ("at (UTC)", "service", "client", "for", "method", "outcome", "records"):
        table.add_column(column)
    for entry in entries:
        who = entry["user_id"] or ""
        if entry["on_behalf_of"]:
            who = f"{who} via {entry['on_behalf_of']}".strip()
        records = ", ".join(entry["records"][:3]) + (" ..." if len(entry["records"]) > 3 else "")
        outcome = entry["outcome"] if entry["outcome"] == "ok" else f"[red]{entry['outcome']}[/]"
        table.add_row(entry["at"][:19], entry["service"], entry["client"], who,
                      entry["method"], outcome, records)
    console.print(table)
    if not entries:
        console.print("no entries", file=sys.stderr)
