"""Services started as operators start them: ``nameko run --config config.yml``.

``running_services`` is the one way tests (and the benchmarks) start a stack: each
service on a database of its own, on a broker (a vhost of the test's own, a proxy, a
login of its own), waited for until it answers RPC, stopped at the end.
"""
import os
import signal
import socket
import subprocess
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from nameko.standalone.rpc import ClusterRpcProxy

from tests.support.waiting import wait_until
from tests.support.identities import admin_context

REPO_ROOT = Path(__file__).resolve().parents[2]
NAMEKO = str(Path(sys.executable).parent / "nameko")

# A method each service answers without arguments: what wait_for_rpc calls by default.
PROBES = {"members": "list_subsectors", "certification": "list_schemes",
          "events": "list_events", "notifications": "delivery_counts"}


class ServiceProcess:
    """A service started as operators start it: ``nameko run --config config.yml ...``."""

    running = set()  # every one started and not yet stopped, for terminate_all

    def __init__(self, module, env, log_path, config_file="config.yml"):
        self.module = module
        self.env = env
        self.log_path = log_path
        self.config_file = str(config_file)
        self.process = None
        self.signalled = False

    def start(self):
        env = {**os.environ, "PYTHONWARNINGS": "ignore", **self.env}
        self.log_file = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [NAMEKO, "run", "--config", self.config_file, self.module],
            cwd=REPO_ROOT, env=env, stdout=self.log_file, stderr=subprocess.STDOUT,
        )
        self.signalled = False
        ServiceProcess.running.add(self)
        return self

    def terminate(self):
        """Ask it to stop (SIGTERM, once), without waiting: ``stop`` waits."""
        if self.process and self.process.poll() is None and not self.signalled:
            self.process.send_signal(signal.SIGTERM)
            self.signalled = True

    @classmethod
    def terminate_all(cls):
        """Ask every running service to stop at once: each takes seconds to stop
        gracefully, and one after another they would add up."""
        for service in list(cls.running):
            service.terminate()

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.process and self.process.poll() is None:
            if sig != signal.SIGTERM or not self.signalled:
                self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        ServiceProcess.running.discard(self)
        self.log_file.close()

    def restart(self, **env_changes):
        """Stop, then start again with some settings changed (as an operator would)."""
        self.stop()
        self.env = {**self.env, **env_changes}
        return self.start()

    @property
    def name(self):
        """The service's name: ``members`` for ``services.members.service``."""
        return self.module.split(".")[1]

    @property
    def db_url(self):
        return self.env.get(f"{self.name.upper()}_DB_URL")

    def log(self):
        return Path(self.log_path).read_text(errors="replace")


def run_until_it_stops(name, env, folder, config_file="config.yml", timeout=60):
    """``(exit code, output)`` of service ``name`` started as operators start it with
    ``env``, for a service that must stop by itself (a bad setting): it fails the test
    if it is still running after ``timeout`` seconds."""
    folder = Path(folder)
    process = ServiceProcess(f"services.{name}.service",
                             {"VAR_DIR": str(folder / "var"), **env},
                             folder / f"{name}-{uuid.uuid4().hex[:4]}.log", config_file).start()
    try:
        code = process.process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.stop()
        raise AssertionError(f"{name} kept running:\n{process.log()[-3000:]}") from None
    process.stop()
    return code, process.log()


def free_port():
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_env(name, amqp_uri, db_url, var_dir, smtp_port=None, **settings):
    """The environment a service is started with by the tests and benchmarks: its
    broker, its database and var folder; certification's public HTTP on a free port,
    notifications' SMTP server; then ``settings``."""
    env = {"AMQP_URI": amqp_uri, "VAR_DIR": str(var_dir)}
    if db_url is not None:  # None: unset, the SQLite fallback under VAR_DIR
        env[f"{name.upper()}_DB_URL"] = db_url
    if name == "certification":
        env["WEB_SERVER_ADDRESS"] = f"127.0.0.1:{free_port()}"
    if name == "notifications" and smtp_port is not None:
        env.update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_port))
    return {**env, **{key: str(value) for key, value in settings.items()}}


def wait_for_rpc(config, service, method=None, timeout=60):
    """Wait until ``service`` answers RPC (it has migrated and started); ``method``
    defaults to the service's entry in PROBES."""
    method = method or PROBES[service]

    def answers():
        try:
            with ClusterRpcProxy(config, context_data=admin_context(), timeout=2) as proxy:
                getattr(getattr(proxy, service), method)()
            return True
        except Exception:
            return False

    wait_until(answers, timeout=timeout, interval=0.3, message=f"{service} to answer RPC")


@contextmanager
def running_services(names, config, folder, databases, amqp_uri=None, smtp_port=None,
                     settings=None, each=None):
    """``{name: ServiceProcess}``: each of ``names`` started as operators start it,
    all at once, then waited for until it answers RPC on ``config``'s broker; all
    stopped at the end (also when one fails to start: its log is in the error).

    - ``databases``: ``name -> database URL`` (a function, e.g. a new database each);
      None: no URL, each service on its SQLite file under ``folder`` (its VAR_DIR).
    - ``amqp_uri``: what the services connect to when it is not ``config``'s (a proxy
      in front of the broker; a dict for a login per service).
    - ``settings``: environment for every service (the handlers' retry schedule is
      ``config``'s and MAX_WORKERS 3 unless given); ``each``: ``{name: {setting:
      value}}`` on top.
    Every service gets a free metrics port (``process.metrics_url``); certification's
    public HTTP address is ``process.http_base``.
    """
    folder = Path(folder)
    # Three workers each (ten in production): still concurrent, and two test workers'
    # stacks stay well within PostgreSQL's 100 connections.
    common = {"HANDLER_RETRY_DELAYS_MS": config.get("HANDLER_RETRY_DELAYS_MS", "200,400"),
              "MAX_WORKERS": 3, **(settings or {})}
    if config.get("REGISTRY_DB_URL"):  # the run's client registry (tests.support.identities)
        common.setdefault("REGISTRY_DB_URL", config["REGISTRY_DB_URL"])
    processes = {}
    try:
        for name in names:
            uri = amqp_uri.get(name) if isinstance(amqp_uri, dict) else amqp_uri
            metrics_port = free_port()
            db_url = databases(name) if databases is not None else None
            env = service_env(name, uri or config["AMQP_URI"], db_url, folder,
                              smtp_port, METRICS_ADDRESS=f"127.0.0.1:{metrics_port}",
                              **common, **(each or {}).get(name, {}))
            process = ServiceProcess(f"services.{name}.service", env,
                                     folder / f"{name}-{uuid.uuid4().hex[:4]}.log")
            process.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
            if name == "certification":
                process.http_base = "http://" + env["WEB_SERVER_ADDRESS"]
            processes[name] = process.start()
        for name, process in processes.items():
            try:
                wait_for_rpc(config, name)
            except AssertionError:
                raise AssertionError(f"{name} did not start:\n{process.log()[-3000:]}") from None
        yield processes
    finally:
        for process in processes.values():
            process.stop()


@contextmanager
def running_service(name, config, db_url, folder, **settings):
    """One service (``running_services`` for one), its database at ``db_url``."""
    with running_services([name], config, folder, lambda _: db_url,
                          settings=settings) as processes:
        yield processes[name]


@contextmanager
def service_alone(name, config, make_database, folder):
    """``(rpc, database engine, process)``: ``name`` with no members service on
    ``config``'s vhost and RPC_TIMEOUT_SECONDS=1, for what it does when members
    does not answer."""
    db_url = make_database(f"{name}_alone")
    engine = sa.create_engine(db_url)
    try:
        with running_service(name, config, db_url, folder, RPC_TIMEOUT_SECONDS="1") as process, \
                ClusterRpcProxy(config, context_data=admin_context(), timeout=15) as rpc:
            yield rpc, engine, process
    finally:
        engine.dispose()
