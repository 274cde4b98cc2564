"""``ekraf``: run, watch and repair the platform.

    ekraf up [--demo] [--once]          the four services, logs prefixed; Ctrl-C stops them
    ekraf demo                          the association's story, against running services
    ekraf call members.get '"<uuid>"'   any RPC method; each argument is JSON (or a string)
    ekraf status                        broker, databases, services, outbox, dead letters
    ekraf dlq list notifications        messages a service parked
    ekraf dlq replay notifications --all | --event-id <uuid>
    ekraf deliveries retry <delivery id> | --failed [--channel email] [--since 24h] ...
    ekraf verify CRT-2026-...           a certificate's credential, checked offline
    ekraf clients add NAME --role ROLE  who may call (also list, rotate, revoke)
    ekraf audit --since 24h             who changed what, and who was refused

ekraf calls as the client in the file EKRAF_CLIENT_FILE names, else as the admin
client ``ekraf up`` keeps in VAR_DIR/ekraf-admin.json (ekraf/clients.py).

Settings come from config.yml and the environment (AMQP_URI, <SERVICE>_DB_URL,
PUBLIC_BASE_URL, ...), as for the services themselves.
"""
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # eventlet announces its own deprecation on import
    import eventlet

eventlet.monkey_patch()
warnings.filterwarnings("ignore", message="pkg_resources is deprecated")

import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import urlsplit, urlunsplit  # noqa: E402

import click  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn  # noqa: E402
from rich.table import Table  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("members", "certification", "events", "notifications")
# `ekraf up` on one host: each service's metrics on a port of its own.
LOCAL_METRICS_PORTS = {"members": 9101, "certification": 9102, "events": 9103,
                       "notifications": 9104}

console = Console()
err = Console(stderr=True)


class BrokerUnreachable(click.ClickException):
    exit_code = 2


def where(uri):
    """A broker or database URL without its password, to show."""
    parts = urlsplit(uri)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    if parts.username:
        host = f"{parts.username}@{host}"
    return urlunsplit(parts._replace(netloc=host))


def check_broker(uri):
    from kombu import Connection

    try:
        with Connection(uri, connect_timeout=3) as connection:
            connection.connect()
    except Exception as error:
        raise BrokerUnreachable(
            f"RabbitMQ does not answer at {where(uri)} ({type(error).__name__}: {error}). "
            "Start it (`rabbitmq-server -detached`, or `docker-compose up -d rabbitmq`) "
            "or point AMQP_URI at a running broker.")


def load(ctx):
    """config.yml as the services read it, and its broker (the settings checked as the
    services check them: a bad value is named here too)."""
    from shared.config import load_config
    from shared.settings import Settings, SettingsError

    config = load_config(ctx.obj["config_path"])
    try:
        return config, Settings.from_config(config).AMQP_URI
    except SettingsError as error:
        raise click.ClickException(str(error)) from None


@click.group(help="Run, watch and repair the EKRAF Kaltim platform (docs/operations.md).")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              default=str(REPO_ROOT / "config.yml"), envvar="EKRAF_CONFIG",
              help="the services' config.yml (default: the project's; its ${VAR} are "
                   "read from the environment)")
@click.pass_context
def cli(ctx, config_path):
    ctx.obj = {"config_path": config_path}


def main():
    import ekraf.clients  # noqa: F401  (its commands: clients, audit)

    # py-amqp warns of every reply that crosses a closing channel (a timed-out call).
    logging.getLogger("amqp").setLevel(logging.ERROR)
    cli(prog_name="ekraf")


# -- up and demo --------------------------------------------------------------------

@cli.command()
@click.option("--demo", is_flag=True, help="walk through the demo once the services answer")
@click.option("--once", is_flag=True, help="stop after the demo (exit 1 if it failed)")
@click.option("--wait", default=90.0, show_default=True, help="seconds to wait for the services")
@click.pass_context
def up(ctx, demo, once, wait):
    """Start the four services (logs prefixed with their names); Ctrl-C stops them."""
    from devtools import run

    config, uri = load(ctx)
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "AMQP_URI": uri}
    # In a terminal: text lines; and with the demo, no line per call to bury its story.
    env.setdefault("LOG_FORMAT", "plain")
    if demo:
        env.setdefault("CALL_LOG_LEVEL", "WARNING")
    check_broker(uri)
    stop_requested = []
    for signum in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C, or `kill`, or a supervisor
        signal.signal(signum, lambda number, frame: stop_requested.append(number))
    run.prepare_databases(env)
    from ekraf.clients import calling_as, ensure_admin_client

    admin_file, made = ensure_admin_client(config, uri)
    if made:
        console.print(f"made the admin client; ekraf and the demo call as it ({admin_file}, "
                      "owner-only)")
    env.setdefault("EKRAF_CLIENT_FILE", str(admin_file))
    os.environ.setdefault("EKRAF_CLIENT_FILE", str(admin_file))
    context_data = calling_as(config)
    processes = [run.start_mail_catcher(env)] if "SMTP_HOST" not in os.environ else []
    try:
        for name in SERVICES:
            service_env = dict(env)
            if "METRICS_ADDRESS" not in os.environ:
                service_env["METRICS_ADDRESS"] = f"127.0.0.1:{LOCAL_METRICS_PORTS[name]}"
            processes.append(run.start_service(name, service_env))
        wait_until_answering(config, processes, wait, stop_requested, context_data)
        if stop_requested:
            return
        if "METRICS_ADDRESS" in os.environ:
            console.print("[green]all four services answer[/]")
        else:
            ports = ", ".join(f"{name} :{port}" for name, port in LOCAL_METRICS_PORTS.items())
            console.print(f"[green]all four services answer[/]; metrics on 127.0.0.1 "
                          f"({ports})")
        if demo:
            result = subprocess.run([sys.executable, "-m", "demo"], cwd=REPO_ROOT, env=env)
            if result.returncode != 0:
                err.print("[red]the demo FAILED[/] (see above)")
            if once:
                sys.exit(result.returncode)
        console.print("services are running; press Ctrl-C to stop them")
        while not stop_requested and all(process.poll() is None for process in processes):
            time.sleep(0.3)
        if not stop_requested:
            stopped = [p.name for p in processes if p.poll() is not None]
            err.print(f"[red]{', '.join(stopped)} stopped by itself[/]; stopping the others")
            sys.exit(1)
    finally:
        console.print("stopping the services ...")
        run.stop_all(processes)
        console.print("stopped")


def wait_until_answering(config, processes, seconds, stop_requested, context_data):
    """A progress bar while the services migrate and start; each must answer health."""
    deadline = time.monotonic() + seconds
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), console=console,
                  transient=True) as progress:
        task = progress.add_task("waiting for the services to answer", total=len(SERVICES))
        waiting = list(SERVICES)
        while waiting and not stop_requested:
            exited = [process.name for process in processes if process.poll() is not None]
            if exited:
                raise click.ClickException(f"{', '.join(exited)} exited while starting "
                                           "(see the lines above; a port already taken?)")
            if time.monotonic() > deadline:
                raise click.ClickException(f"{', '.join(waiting)} did not answer within "
                                           f"{seconds:.0f}s")
            for name in list(waiting):
                if health(config, name, timeout=2, context_data=context_data) is not None:
                    waiting.remove(name)
                    progress.advance(task)
            time.sleep(0.3)


@cli.command()
@click.option("--wait", default=60.0, show_default=True, help="seconds to wait for the services")
def demo(wait):
    """The association's story, against the running services (see demo/__main__.py)."""
    result = subprocess.run([sys.executable, "-m", "demo", "--wait", str(wait)], cwd=REPO_ROOT)
    sys.exit(result.returncode)


# -- call ---------------------------------------------------------------------------

def parse_argument(text):
    try:
        return json.loads(text)
    except ValueError:
        return text  # a bare word: an id, a number like EKRAF-2026-000001


def rpc_call(config, service, method, *args, timeout, context_data=None):
    """One RPC call's answer, made as ekraf's client (``ekraf.clients.calling_as``).
    A service that is not running or does not answer in time is a ClickException; an
    error the service answers with (NotFound, Conflict, ValidationError, Forbidden...)
    is printed with its fields and exits 1."""
    from nameko.exceptions import RpcTimeout, UnknownService
    from nameko.standalone.rpc import ClusterRpcProxy

    from ekraf.clients import calling_as

    if context_data is None:
        context_data = calling_as(config)
    try:
        with ClusterRpcProxy(config, timeout=timeout, context_data=context_data) as rpc:
            return getattr(getattr(rpc, service), method)(*args)
    except UnknownService:
        raise click.ClickException(f"no service called {service!r} is running "
                                   f"(known: {', '.join(SERVICES)})")
    except RpcTimeout:
        raise click.ClickException(f"{service} did not answer within {timeout:g}s; "
                                   "is it running? (`ekraf status`)")
    except Exception as error:
        name = getattr(error, "exc_type", None) or type(error).__name__
        detail = getattr(error, "errors", None)
        err.print(f"[red]{name}[/]: {getattr(error, 'value', None) or error}")
        if detail:
            err.print_json(json.dumps(detail, default=str))
        sys.exit(1)


@cli.command()
@click.argument("target", metavar="SERVICE.METHOD")
@click.argument("arguments", nargs=-1, metavar="[JSON]...")
@click.option("--timeout", default=30.0, show_default=True, help="seconds to wait for the answer")
@click.pass_context
def call(ctx, target, arguments, timeout):
    """Call an RPC method; each argument is JSON, or a plain string.

    \b
    ekraf call members.register '{"full_name": "Siti", "email": "siti@example.id",
                                  "phone": "081234567890", "city": "Balikpapan",
                                  "subsector": "kuliner"}'
    ekraf call members.get 0b6f1c1e-...        ekraf call members.list '{"city": "Samarinda"}'
    """
    service, dot, method = target.partition(".")
    if not dot or not service or not method:
        raise click.BadParameter("expected SERVICE.METHOD, e.g. members.get", param_hint="target")
    config, uri = load(ctx)
    check_broker(uri)
    result = rpc_call(config, service, method,
                      *[parse_argument(argument) for argument in arguments], timeout=timeout)
    output = json.dumps(result, ensure_ascii=False, default=str)
    if console.is_terminal:
        console.print_json(output)
    else:
        click.echo(output)


# -- status -------------------------------------------------------------------------

def health(config, service, timeout=3.0, context_data=None):
    """The service's health report, or None when it does not answer in time."""
    from nameko.standalone.rpc import ClusterRpcProxy

    try:
        with ClusterRpcProxy(config, timeout=timeout, context_data=context_data) as rpc:
            return getattr(rpc, service).health()
    except Exception:
        return None


def database_directly(service):
    """For a service that does not answer: its database, from ``<SERVICE>_DB_URL`` or
    else where ``ekraf up`` puts it (``ekraf_<service>`` on PG_ADMIN_URL's server):
    (reachable, outbox backlog)."""
    import sqlalchemy as sa

    from devtools import run

    url = os.environ.get(f"{service.upper()}_DB_URL") or urlunsplit(urlsplit(
        os.environ.get("PG_ADMIN_URL", run.DEFAULT_PG_ADMIN_URL))._replace(
        path=f"/ekraf_{service}"))
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3}
                              if url.startswith("postgresql") else {})
    try:
        with engine.connect() as connection:
            try:
                backlog = connection.execute(sa.text(
                    "SELECT count(*) FROM outbox_messages WHERE sent_at IS NULL")).scalar()
            except Exception:
                backlog = None
        return True, backlog
    except Exception:
        return False, None
    finally:
        engine.dispose()


@cli.command()
@click.option("--timeout", default=3.0, show_default=True, help="seconds each service has to answer")
@click.pass_context
def status(ctx, timeout):
    """Broker, each service and its database, outbox backlogs, dead letters.

    Exit 0 when everything is healthy, 1 when something is not, 2 without a broker."""
    from shared.dead_letters import parked_count

    from ekraf.clients import calling_as

    config, uri = load(ctx)
    check_broker(uri)
    context_data = calling_as(config)
    pool = eventlet.GreenPool()
    reports = dict(zip(SERVICES, pool.imap(
        lambda name: health(config, name, timeout, context_data), SERVICES)))
    table = Table(title=f"EKRAF platform at {where(uri)}")
    for column in ("service", "answers", "database", "outbox backlog", "dead letters"):
        table.add_column(column, justify="right" if column in ("outbox backlog",
                                                               "dead letters") else "left")
    problems = 0
    for name in SERVICES:
        report = reports[name]
        parked = parked_count(uri, name)
        if report is None:
            reachable, backlog = database_directly(name)
            database = "[green]ok[/] (direct)" if reachable else "[red]unreachable[/]"
            answers = "[red]no answer[/]"
            problems += 1
        else:
            answers = "[green]ok[/]" if report["status"] == "ok" else "[red]degraded[/]"
            problems += report["status"] != "ok"
            database = ("[green]ok[/]" if report["database"]["ok"] else
                        f"[red]{report['database'].get('error', 'unreachable')}[/]")
            backlog = report["outbox_backlog"]
        if parked:
            problems += 1
        table.add_row(name, answers, database, "-" if backlog is None else str(backlog),
                      "-" if parked is None else (f"[red]{parked}[/]" if parked else "0"))
    console.print(f"broker: [green]ok[/] ({where(uri)})")
    console.print(table)
    if problems:
        console.print(f"[red]{problems} problem(s)[/]: a service that does not answer: "
                      "its log; dead letters: `ekraf dlq list SERVICE` (docs/operations.md)")
        sys.exit(1)
    console.print("[green]all healthy[/]")


# -- dead letters -------------------------------------------------------------------

@cli.group()
def dlq():
    """Messages a service could not handle, parked in <service>.dead-letter."""


@dlq.command("list")
@click.argument("service", type=click.Choice(SERVICES[1:]))
@click.pass_context
def dlq_list(ctx, service):
    """Show the parked messages (they stay parked); piped, as JSON lines."""
    from shared.dead_letters import list_parked

    _, uri = load(ctx.parent)
    check_broker(uri)
    with console.status(f"reading {service}.dead-letter ..."):
        parked = list_parked(uri, service)
    if not console.is_terminal:  # piped: one JSON object per line, for jq and scripts
        for item in parked:
            click.echo(json.dumps(item, ensure_ascii=False, default=str))
        click.echo(f"{len(parked)} message(s) parked in {service}.dead-letter", err=True)
        return
    table = Table(title=f"{len(parked)} message(s) parked in {service}.dead-letter")
    for column in ("event_id", "event_type", "from queue", "attempts", "failed at", "error"):
        table.add_column(column, overflow="fold")
    for item in parked:
        table.add_row(*(str(item[key] or "") for key in (
            "event_id", "event_type", "queue", "attempts", "failed_at", "error")))
    console.print(table)


@dlq.command("replay")
@click.argument("service", type=click.Choice(SERVICES[1:]))
@click.option("--all", "everything", is_flag=True, help="every parked message")
@click.option("--event-id", help="only the message(s) of this event_id")
@click.pass_context
def dlq_replay(ctx, service, everything, event_id):
    """Send parked messages back to their queues, once their cause is fixed; the
    handlers' idempotence makes replaying something already applied harmless."""
    from shared.dead_letters import replay

    if everything == bool(event_id):
        raise click.UsageError("give either --all or --event-id")
    _, uri = load(ctx.parent)
    check_broker(uri)
    with console.status(f"replaying from {service}.dead-letter ..."):
        count = replay(uri, service, None if everything else event_id)
    console.print(f"replayed {count} message(s)")
    if event_id and not count:
        sys.exit(1)


# -- deliveries ---------------------------------------------------------------------

DURATION_UNITS = {"m": 60, "h": 3600, "d": 86400}


def parse_duration(text, option):
    """``30m``, ``12h``, ``7d`` as a timedelta; anything else is a usage error."""
    number, unit = text[:-1], text[-1:].lower()
    if unit not in DURATION_UNITS or not number.isdigit() or int(number) == 0:
        raise click.BadParameter(f"{text!r}: a number and m, h or d (30m, 12h, 7d), or 'all'",
                                 param_hint=option)
    return timedelta(seconds=int(number) * DURATION_UNITS[unit])

@cli.group()
def deliveries():
    """Emails and SMS the notifications service sent, or gave up on."""


@deliveries.command("retry")
@click.argument("delivery_id", required=False)
@click.option("--failed", "every_failed", is_flag=True,
              help="every failed delivery (narrowed by the options below)")
@click.option("--channel", type=click.Choice(["email", "sms"]), help="with --failed: only this channel")
@click.option("--member-id", help="with --failed: only this member's")
@click.option("--event-type", help="with --failed: only notices of this message type")
@click.option("--since", default="24h", show_default=True,
              help="with --failed: only deliveries made within this long (30m, 12h, 7d), "
                   "or 'all'")
@click.option("--timeout", default=30.0, show_default=True, help="seconds to wait for the answer")
@click.pass_context
def deliveries_retry(ctx, delivery_id, every_failed, channel, member_id, event_type, since,
                     timeout):
    """Send failed deliveries again, once their cause (the relay, the gateway) is fixed.

    Each goes back to pending with the whole retry schedule again
    (NOTIFY_RETRY_DELAYS_SECONDS); attempts keep counting. A member who has since
    turned the channel off is not sent it. Exit 1 when the delivery is unknown or
    not failed.

    \b
    ekraf deliveries retry 0b6f1c1e-...            one delivery
    ekraf deliveries retry --failed --channel email  every failed email of the last 24h
    ekraf deliveries retry --failed --since 7d       every failed one of the last week
    """
    narrowed = {key: value for key, value in (("channel", channel), ("member_id", member_id),
                                              ("event_type", event_type)) if value}
    if bool(delivery_id) == every_failed:
        raise click.UsageError("give either a DELIVERY_ID or --failed")
    if delivery_id and narrowed:
        raise click.UsageError("--channel, --member-id and --event-type go with --failed")
    if every_failed and since != "all":
        narrowed["created_after"] = (datetime.now(timezone.utc)
                                     - parse_duration(since, "--since")).isoformat()
    config, uri = load(ctx.parent)
    check_broker(uri)
    if delivery_id:
        delivery = rpc_call(config, "notifications", "retry_delivery", delivery_id,
                            timeout=timeout)
        console.print(f"re-queued delivery {delivery['id']} ({delivery['channel']}, "
                      f"{delivery['event_type']}; {delivery['attempts']} attempt(s) so far, "
                      f"last error: {delivery['last_error']})")
    else:
        count = rpc_call(config, "notifications", "retry_failed", narrowed, timeout=timeout)
        console.print(f"re-queued {count} failed delivery(ies)")
    console.print("follow them with `ekraf call notifications.list_deliveries "
                  "'{\"status\": \"pending\"}'`")


# -- verify -------------------------------------------------------------------------

def claims_kid(token):
    """The ``kid`` of a JWS compact token's header (which published key signed it)."""
    import base64

    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))).get("kid")


def fetch(url):
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read().decode()


@cli.command()
@click.argument("number")
@click.option("--base-url", help="the certification service's public address "
              "(default: PUBLIC_BASE_URL)")
@click.option("--credential", "credential_file", type=click.File(),
              help="a credential token saved earlier (else fetched from the service)")
@click.option("--jwks", "jwks_file", type=click.File(),
              help="the published keys saved earlier (else fetched from the service)")
@click.pass_context
def verify(ctx, number, base_url, credential_file, jwks_file):
    """Check a certificate's signed credential offline against the published keys.

    The signature proves who issued what; whether the certificate is still valid
    today (not suspended, revoked or expired) is shown from the live register."""
    from services.certification.signing import InvalidCredential
    from services.certification.signing import verify as verify_token

    from shared.settings import Settings

    config, _ = load(ctx)
    base = (base_url or Settings.from_config(config).PUBLIC_BASE_URL).rstrip("/")
    try:
        token = (credential_file.read().strip() if credential_file
                 else fetch(f"{base}/certificates/{number}/credential").strip())
        keys = json.loads(jwks_file.read() if jwks_file
                          else fetch(f"{base}/.well-known/jwks.json"))["keys"]
    except urllib.error.HTTPError as error:
        raise click.ClickException(f"{base} answered {error.code} for certificate {number}")
    except (urllib.error.URLError, OSError) as error:
        raise click.ClickException(f"the certification service does not answer at {base} "
                                   f"({getattr(error, 'reason', error)}); set --base-url")
    try:
        claims = verify_token(token, keys)
    except InvalidCredential as error:
        err.print(f"[red]NOT VALID[/]: the credential of {number} fails the check ({error})")
        sys.exit(1)
    certificate = claims.get("certificate", claims)
    if certificate.get("number") not in (None, number):
        err.print(f"[red]NOT VALID[/]: that credential is for {certificate.get('number')}")
        sys.exit(1)
    console.print(f"certificate {number}: [green]signature valid[/] (key {claims_kid(token)})")
    table = Table(show_header=False)
    for key in ("holder_name", "scheme_code", "scheme_title", "issued_at", "valid_until"):
        if key in certificate:
            table.add_row(key, str(certificate[key]))
    console.print(table)
    if not credential_file:
        try:
            view = json.loads(fetch(f"{base}/certificates/{number}"))
            colour = "green" if view["valid"] else "red"
            console.print(f"register today: [{colour}]{view['status']}[/] "
                          f"({'valid' if view['valid'] else 'not valid'})")
        except Exception as error:  # the signature stands on its own
            err.print(f"(the live register did not answer: {type(error).__name__})")
