"""How ``ekraf up`` (and so ``make run``) starts the services on this machine.

Each service runs as ``nameko run --config config.yml services.<name>.service``
with its log lines prefixed by its name. A service whose ``<NAME>_DB_URL`` is
unset gets a PostgreSQL database of its own (``ekraf_<name>``) on the local
server when one answers (``PG_ADMIN_URL``), else the SQLite file under var/.
Unless ``SMTP_HOST`` is set, a local mail catcher keeps sent emails in var/mail.
"""
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVICES = ["members", "certification", "events", "notifications"]
DEFAULT_PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_AMQP_URI = "amqp://guest:guest@localhost:5672/"


def say(message):
    print(f"[run] {message}", flush=True)


def check_broker(amqp_uri):
    from kombu import Connection

    try:
        with Connection(amqp_uri, connect_timeout=3) as connection:
            connection.connect()
        return True
    except Exception as exc:
        safe = urlsplit(amqp_uri)._replace(netloc=urlsplit(amqp_uri).hostname or "")
        say(f"RabbitMQ does not answer at {urlunsplit(safe)} ({exc}).")
        say("Start it first: `rabbitmq-server -detached` on this machine, or "
            "`docker-compose up -d rabbitmq`; or point AMQP_URI at a running broker.")
        return False


# Each service's database, and the client registry every one of them reads.
DATABASES = SERVICES + ["registry"]


def local_database_url(name, env):
    """Where ``ekraf up`` put ``name``'s database when its ``<NAME>_DB_URL`` is unset:
    ``ekraf_<name>`` on PG_ADMIN_URL's server if that exists, else None (SQLite)."""
    admin_url = env.get("PG_ADMIN_URL", DEFAULT_PG_ADMIN_URL)
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(admin_url, connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as connection:
                exists = connection.execute(
                    sa.text("SELECT 1 FROM pg_database WHERE datname = :name"),
                    {"name": f"ekraf_{name}"}).scalar()
        finally:
            engine.dispose()
    except Exception:
        return None
    return urlunsplit(urlsplit(admin_url)._replace(path=f"/ekraf_{name}")) if exists else None


def prepare_databases(env):
    """Give each service (and the client registry) without a configured database one
    on local PostgreSQL."""
    missing = [name for name in DATABASES if not env.get(f"{name.upper()}_DB_URL")]
    if not missing:
        return
    admin_url = env.get("PG_ADMIN_URL", DEFAULT_PG_ADMIN_URL)
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT",
                                  connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            for name in missing:
                database = f"ekraf_{name}"
                exists = connection.execute(
                    sa.text("SELECT 1 FROM pg_database WHERE datname = :name"),
                    {"name": database}).scalar()
                if not exists:
                    connection.execute(sa.text(f'CREATE DATABASE "{database}"'))
                env[f"{name.upper()}_DB_URL"] = urlunsplit(
                    urlsplit(admin_url)._replace(path="/" + database))
        engine.dispose()
        say(f"PostgreSQL: databases {', '.join('ekraf_' + n for n in missing)} ready")
    except Exception as exc:
        say(f"PostgreSQL not reachable ({type(exc).__name__}); "
            f"{', '.join(missing)} will use SQLite under var/")


def pipe_with_prefix(stream, prefix):
    for line in iter(stream.readline, b""):
        sys.stdout.write(f"{prefix} {line.decode(errors='replace')}")
        sys.stdout.flush()


def start_service(name, env):
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "nameko"), "run", "--config", "config.yml",
         f"services.{name}.service"],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        # A session of its own: Ctrl-C in the terminal reaches only `ekraf up`, which
        # stops each service with one SIGTERM (nameko trips over a second signal).
        start_new_session=True,
    )
    threading.Thread(target=pipe_with_prefix, args=(process.stdout, f"[{name}]"),
                     daemon=True).start()
    process.name = name
    return process


def start_mail_catcher(env):
    """A local SMTP server keeping every email in var/mail (a Maildir) to look at."""
    port = env.setdefault("SMTP_PORT", "1025")
    env["SMTP_HOST"] = "127.0.0.1"
    maildir = REPO_ROOT / "var" / "mail"
    maildir.parent.mkdir(exist_ok=True)  # a fresh clone has no var/ yet
    process = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
         "-c", "aiosmtpd.handlers.Mailbox", str(maildir)], cwd=REPO_ROOT, env=env,
        start_new_session=True)
    process.name = f"the mail catcher (127.0.0.1:{port})"
    say(f"mail catcher on 127.0.0.1:{port}: sent emails land in var/mail/new")
    return process


def stop_all(processes):
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
