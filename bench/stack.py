"""The system under measurement: the four services and the echo baseline, each a
``nameko run`` process as operators start it, in a RabbitMQ vhost and PostgreSQL
databases of the run's own (removed afterwards), with a local SMTP server and a client
registry of the run's own (``REGISTRY_DB_URL``, with an admin client:
tests.support.identities). Benchmarks call as clients with the role each method's rule
needs (``stack.client("registrar")``); the echo baseline checks no identity."""
import contextlib
import os
import signal
import subprocess
import tempfile
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import sqlalchemy as sa

from tests.support.identities import close_test_registry, new_client, open_test_registry
from tests.support.outside import SmtpServer
from tests.support.services import ServiceProcess, free_port, service_env, wait_for_rpc

SERVICES = ("members", "certification", "events", "notifications")
AMQP_URI = os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
PG_ADMIN_URL = os.environ.get("PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


class Stack:
    def __init__(self, registry_of=None):
        """``registry_of``: another (started) stack whose client registry and clients
        this one shares (a second stack in the same run); else it makes its own."""
        self.run_id = uuid.uuid4().hex[:8]
        self.folder = Path(tempfile.mkdtemp(prefix="ekraf-bench-"))
        self.vhost = f"ekraf-bench-{self.run_id}"
        base = urlsplit(AMQP_URI)
        self.amqp_uri = urlunsplit(base._replace(path="/" + quote(self.vhost, safe="")))
        self.config = {"AMQP_URI": self.amqp_uri}
        self.admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        self.databases, self.processes, self.engines = {}, {}, {}
        self.smtp = None
        self.registry_url = registry_of.registry_url if registry_of else None
        self.owns_registry = registry_of is None
        self.clients = registry_of.clients if registry_of else {}

    # -- lifecycle -------------------------------------------------------------

    def start(self, services=SERVICES, echo=True):
        subprocess.run(["rabbitmqctl", "add_vhost", self.vhost], check=True, capture_output=True)
        user = urlsplit(AMQP_URI).username or "guest"
        subprocess.run(["rabbitmqctl", "set_permissions", "-p", self.vhost, user, ".*", ".*",
                        ".*"], check=True, capture_output=True)
        if self.owns_registry:
            self.registry_url = self.database("registry")
            open_test_registry(self.registry_url)
        (self.folder / "mail").mkdir()
        self.smtp = SmtpServer(self.folder / "mail", free_port())
        for name in services:
            self.start_service(name)
        if echo:
            self.start_service("bench_echo")
        return self

    def start_service(self, name):
        if name == "bench_echo":
            module, env, probe = "bench.echo_service", {"AMQP_URI": self.amqp_uri}, "echo"
        else:
            module, probe = f"services.{name}.service", None
            env = service_env(
                name, self.amqp_uri, self.database(name), self.folder, self.smtp.port,
                REGISTRY_DB_URL=self.registry_url,
                # The public endpoint's per-client limit would measure itself, not verify.
                HTTP_RATE_LIMIT_PER_MINUTE="10000000")
        if name == "certification":
            env["WEB_SERVER_ADDRESS"] = f"127.0.0.1:{free_port()}"
            self.http_base = "http://" + env["WEB_SERVER_ADDRESS"]
        process = ServiceProcess(module, env, self.folder / f"{name}.log").start()
        self.processes[name] = process
        wait_for_rpc(self.config, name, probe, timeout=90)
        return process

    def database(self, name):
        database = f"bench_{name}_{self.run_id}"
        with self.admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{database}"'))
        url = urlunsplit(urlsplit(PG_ADMIN_URL)._replace(path="/" + database))
        self.databases[name] = database
        self.engines[name] = sa.create_engine(url)
        return url

    def client(self, *roles, **binding):
        """The context data of the run's client with ``roles`` (made once; an assessor
        is bound: ``client("assessor", assessor_id=...)``). Benchmarks call as the role
        the method's rule in shared.access.METHOD_RULES needs, not as admin."""
        key = (tuple(sorted(roles)), tuple(sorted(binding.items())))
        if key not in self.clients:
            self.clients[key] = new_client(list(roles), **binding)
        return dict(self.clients[key])

    def stop(self):
        for process in self.processes.values():
            process.stop()
        if self.owns_registry:
            close_test_registry()
        for engine in self.engines.values():
            engine.dispose()
        with self.admin.connect() as connection:
            for database in self.databases.values():
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        self.admin.dispose()
        if self.smtp:
            self.smtp.stop()
        subprocess.run(["rabbitmqctl", "delete_vhost", self.vhost], capture_output=True)

    # -- looking in -------------------------------------------------------------

    def backlog(self):
        """Messages waiting in the run's queues, and emails or SMS not yet sent."""
        listed = subprocess.run(["rabbitmqctl", "list_queues", "-q", "-p", self.vhost,
                                 "name", "messages"], capture_output=True, text=True).stdout
        queued = sum(int(parts[-1]) for parts in (line.split() for line in listed.splitlines())
                     if len(parts) >= 2 and parts[-1].isdigit()
                     and not parts[0].endswith("dead-letter"))
        unsent = self.scalar("notifications", "SELECT count(*) FROM deliveries "
                             "WHERE status = 'pending'") if "notifications" in self.engines else 0
        return queued + unsent

    def settle(self, timeout=300):
        """Wait until the work earlier steps caused is done (queues drained, emails
        sent), so that it does not weigh on the next measurement."""
        import time

        import eventlet

        deadline = time.monotonic() + timeout
        while self.backlog() and time.monotonic() < deadline:
            eventlet.sleep(0.2)

    @contextlib.contextmanager
    def paused(self, names):
        """The named services stopped (SIGSTOP) for a while, then resumed: what
        reaches their queues meanwhile waits there and is handled afterwards."""
        pids = [self.processes[name].process.pid for name in names]
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)

    def rss_mb(self, name):
        """Resident memory of a service's process, in MB."""
        with open(f"/proc/{self.processes[name].process.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return None

    def scalar(self, name, sql, **params):
        with self.engines[name].connect() as connection:
            return connection.execute(sa.text(sql), params).scalar()
