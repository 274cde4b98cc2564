"""Helpers for tests that drive real services."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import eventlet
from nameko.events import event_handler
from nameko.standalone.rpc import ClusterRpcProxy

REPO_ROOT = Path(__file__).resolve().parent.parent
NAMEKO = str(Path(sys.executable).parent / "nameko")


def wait_until(predicate, timeout=15.0, interval=0.05, message="condition"):
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        eventlet.sleep(interval)


class ServiceProcess:
    """A service started as operators start it: ``nameko run --config config.yml ...``."""

    def __init__(self, module, env, log_path):
        self.module = module
        self.env = env
        self.log_path = log_path
        self.process = None

    def start(self):
        env = {**os.environ, "PYTHONWARNINGS": "ignore", **self.env}
        self.log_file = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [NAMEKO, "run", "--config", "config.yml", self.module],
            cwd=REPO_ROOT, env=env, stdout=self.log_file, stderr=subprocess.STDOUT,
        )
        return self

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_file.close()

    def log(self):
        return Path(self.log_path).read_text(errors="replace")


def wait_for_rpc(config, service, method="list_subsectors", timeout=60):
    """Wait until ``service`` answers RPC (it has migrated and started)."""

    def answers():
        try:
            with ClusterRpcProxy(config, timeout=2) as proxy:
                getattr(getattr(proxy, service), method)()
            return True
        except Exception:
            return False

    wait_until(answers, timeout=timeout, interval=0.5, message=f"{service} to answer RPC")


class MessageLog:
    """What an outside subscriber received, keyed by event type."""

    def __init__(self):
        self.messages = []

    def record(self, payload):
        self.messages.append(payload)

    def of_type(self, event_type, **data_match):
        return [m for m in self.messages if m.get("event_type") == event_type
                and all(m["data"].get(k) == v for k, v in data_match.items())]

    def wait_for(self, event_type, count=1, timeout=15, **data_match):
        return wait_until(
            lambda: len(self.of_type(event_type, **data_match)) >= count
            and self.of_type(event_type, **data_match),
            timeout=timeout, message=f"{count} {event_type} {data_match or ''}")


def subscriber_class(source_service, event_types, message_log, name="outside_subscriber"):
    """A plain nameko service, as another team would write it, recording messages."""
    attrs = {"name": name}
    for event_type in event_types:
        def handler(self, payload, _log=message_log):
            _log.record(payload)
        handler.__name__ = f"on_{event_type}"
        attrs[handler.__name__] = event_handler(source_service, event_type)(handler)
    return type("OutsideSubscriber", (), attrs)
