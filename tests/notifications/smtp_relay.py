"""A stand-in for a production SMTP relay (aiosmtpd), in its own process: STARTTLS
or implicit TLS with a given certificate, and a login that must succeed before any
mail is taken. It writes what it saw, one JSON object a line, to ``--log``:
``{"auth": mechanism, "login", "success", "tls"}`` per login attempt and
``{"mail": {"from", "to", "tls", "login", "data"}}`` per email.

    python -m tests.notifications.smtp_relay --port 2587 --mode starttls \\
        --cert cert.pem --key key.pem --user relay-user --password s3cret --log seen.jsonl

``RelayProcess`` starts it from a test and reads the log back.
"""
import argparse
import json
import ssl
import subprocess
import sys
import threading
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent.parent


def main():
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=("starttls", "tls"), required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--mechanism", action="append",
                        help="offer only these AUTH mechanisms (default: LOGIN and PLAIN)")
    parser.add_argument("--log", required=True)
    args = parser.parse_args()

    lock = threading.Lock()

    def write(record):
        with lock, open(args.log, "a") as log:
            log.write(json.dumps(record) + "\n")

    def encrypted(server):
        # Whether this session is over TLS, whether by STARTTLS or from the start.
        return server.transport.get_extra_info("ssl_object") is not None

    def authenticator(server, session, envelope, mechanism, auth_data):
        login = auth_data.login.decode()
        success = login == args.user and auth_data.password.decode() == args.password
        # The password is never written: only whether it matched.
        write({"auth": mechanism, "login": login, "success": success, "tls": encrypted(server)})
        return AuthResult(success=success, handled=False, auth_data=login)

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            write({"mail": {"from": envelope.mail_from, "to": envelope.rcpt_tos,
                            "tls": encrypted(server),
                            "login": session.auth_data if session.authenticated else None,
                            "data": envelope.content.decode("utf-8", "replace")}})
            return "250 OK"

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    offered = {"LOGIN", "PLAIN"}
    excluded = offered - {name.upper() for name in args.mechanism} if args.mechanism else set()
    options = dict(authenticator=authenticator, auth_required=True,
                   auth_exclude_mechanism=excluded)
    if args.mode == "starttls":
        options.update(tls_context=context, require_starttls=True, auth_require_tls=True)
    else:  # aiosmtpd counts only STARTTLS as TLS for its own check; this is TLS throughout
        options.update(ssl_context=context, auth_require_tls=False)
    controller = Controller(Handler(), hostname="127.0.0.1", port=args.port, **options)
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()  # until the test closes our stdin (or ends)
    finally:
        controller.stop()


class RelayProcess:
    """The relay above, started by a test; ``seen()`` is what it has logged so far."""

    def __init__(self, folder, port, mode, cert, key, user="relay-user", password="s3cret",
                 mechanisms=()):
        # A log of this start's own: a relay restarted on the same port starts afresh.
        self.port, self.log = port, Path(folder) / f"relay-{port}-{uuid.uuid4().hex[:8]}.jsonl"
        command = [sys.executable, "-m", "tests.notifications.smtp_relay", "--port", str(port),
                   "--mode", mode, "--cert", str(cert), "--key", str(key), "--user", user,
                   "--password", password, "--log", str(self.log)]
        for mechanism in mechanisms:
            command += ["--mechanism", mechanism]
        self.process = subprocess.Popen(command, cwd=REPO_ROOT, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if self.process.stdout.readline().strip() != b"ready":  # b"" when it died
            self.stop()
            raise AssertionError("the test relay did not start: "
                                 + self.process.stderr.read().decode()[-2000:])

    def seen(self):
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    def mails(self):
        return [record["mail"] for record in self.seen() if "mail" in record]

    def logins(self):
        return [record for record in self.seen() if "auth" in record]

    def stop(self):
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


if __name__ == "__main__":
    main()
