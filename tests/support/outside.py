"""Stand-ins for what lies outside the system: an SMTP server (a real one, aiosmtpd),
an SMS gateway (a small HTTP server that records and can fail), and a PostgreSQL
cluster of a test's own that it may stop and start."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import eventlet
import pytest

from tests.support.waiting import wait_until


class SmtpServer:
    """A real SMTP server (aiosmtpd) in its own process, keeping mail in a Maildir."""

    def __init__(self, folder, port):
        # A path that does not exist yet: the server creates the Maildir there.
        self.maildir, self.port = folder / "Maildir", port
        self.process = subprocess.Popen(
            [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
             "-c", "aiosmtpd.handlers.Mailbox", str(self.maildir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._answers, timeout=15, message="the SMTP server")

    def _answers(self):
        try:
            eventlet.connect(("127.0.0.1", self.port)).close()
            return True
        except OSError:
            return False

    def messages(self, to=None):
        import mailbox

        if not (self.maildir / "cur").exists():
            return []
        found = list(mailbox.Maildir(str(self.maildir), create=False))
        return [m for m in found if to is None or to in m["To"]]

    def stop(self):
        self.process.terminate()
        self.process.wait(10)


class FakeSmsGateway:
    """An HTTP server standing in for the SMS gateway: it records each request (and
    when it arrived, in ``arrived``, a ``time.monotonic()`` per request) and answers 503 to the first ``failures[phone]`` requests for a phone number, after
    ``delays[phone]`` seconds (a slow gateway)."""

    def __init__(self):
        from eventlet import wsgi

        self.requests, self.failures, self.answered, self.delays = [], {}, {}, {}
        self.arrived = []
        self.listener = eventlet.listen(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/sms"
        self.server = eventlet.spawn(wsgi.server, self.listener, self.app,
                                     log_output=False, log=open(os.devnull, "w"))

    def app(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        payload = json.loads(environ["wsgi.input"].read(length) or b"{}")
        self.arrived.append(time.monotonic())
        self.requests.append(payload)
        phone = payload.get("to")
        eventlet.sleep(self.delays.get(phone, 0))
        self.answered[phone] = self.answered.get(phone, 0) + 1
        if self.answered[phone] <= self.failures.get(phone, 0):
            start_response("503 Service Unavailable", [("Content-Type", "application/json")])
            return [b'{"error": "busy"}']
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"status": "queued"}']

    def sent_to(self, phone):
        return [r for r in self.requests if r.get("to") == phone]

    def arrival_times(self, phone):
        return [at for request, at in zip(self.requests, self.arrived) if request.get("to") == phone]

    def stop(self):
        self.server.kill()
        self.listener.close()


class PostgresCluster:
    """A PostgreSQL cluster of a test's own, on a free port, that the test may stop and
    start (the machine's server is shared by every test and must stay up).

    Runs the machine's server binaries as the ``postgres`` user, so it needs root; a
    test that cannot have one is skipped."""

    def __init__(self, host_auth="trust"):
        import shutil
        import socket
        import tempfile

        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not versions or shutil.which("runuser") is None or os.geteuid() != 0:
            pytest.skip("needs PostgreSQL's server binaries and root (to run them as postgres)")
        self.binaries = versions[-1].parent
        # Outside pytest's own temp folder, which only root may enter.
        self.folder = Path(tempfile.mkdtemp(prefix="ekraf-pg-cluster-"))
        self.data = self.folder / "data"
        shutil.chown(self.folder, "postgres", "postgres")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        # Trust for the superuser over the socket; TCP as asked (passwords or trust).
        self.as_postgres(str(self.binaries / "initdb"), "-D", str(self.data), "-U", "postgres",
                         "--auth-local=trust", f"--auth-host={host_auth}")
        self.start()

    def as_postgres(self, *command, **kwargs):
        return subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True,
                              capture_output=True, **kwargs)

    def pg_ctl(self, *args):
        return self.as_postgres(str(self.binaries / "pg_ctl"), "-D", str(self.data), *args)

    def start(self):
        self.pg_ctl("-w", "-l", str(self.folder / "log"), "-o",
                    f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1", "start")

    def stop(self, mode="fast"):
        """``fast``: disconnect every client and shut down cleanly (a restart);
        ``immediate``: as if the server crashed."""
        self.pg_ctl("-m", mode, "-w", "stop")

    def psql(self, sql):
        return self.as_postgres("psql", "-h", str(self.folder), "-p", str(self.port),
                                "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql)

    def create_database(self, name):
        self.psql(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def destroy(self):
        import shutil

        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.folder, ignore_errors=True)
