"""The email sender against a real SMTP server: one SMTP session serves many emails,
and a kept session the server has closed in the meantime costs no email. Against a
relay as production has them (tests/notifications/smtp_relay.py): STARTTLS or
implicit TLS with a certificate made here, a login, and what is refused."""
import types
import uuid

import pytest

from services.notifications.adapters import EmailSender, SendFailed
from services.notifications.dependencies import DeliveryWorker
from tests.notifications.smtp_relay import RelayProcess
from tests.support.outside import SmtpServer
from tests.support.services import free_port, run_until_it_stops
from tests.support.waiting import wait_until


def delivery(recipient, subject="Keanggotaan Anda aktif — Édisi"):
    return types.SimpleNamespace(id=str(uuid.uuid4()), recipient=recipient, subject=subject,
                                 body="Halo,\nNomor anggota: EK-2026-00001\n", locale="id")


def test_one_session_serves_several_emails_and_a_stale_one_is_replaced(tmp_path):
    port = free_port()
    for folder in ("first", "second"):
        (tmp_path / folder).mkdir()
    server = SmtpServer(tmp_path / "first", port)
    sender = EmailSender("127.0.0.1", port, "Ekraf Kaltim <noreply@ekraf.example>", timeout=5)
    try:
        for number in range(3):
            sender.send(delivery(f"anggota{number}@example.id"))
        assert len(sender._idle) == 1  # the same session, put back after each email
        wait_until(lambda: len(server.messages()) == 3, timeout=10, message="3 emails")
        mail = server.messages("anggota0@example.id")[0]
        assert mail["From"] == "Ekraf Kaltim <noreply@ekraf.example>"
        assert mail["Content-Language"] == "id"
        assert "EK-2026-00001" in mail.get_payload(decode=True).decode()

        # The server goes away and comes back: the kept session is dead.
        server.stop()
        server = SmtpServer(tmp_path / "second", port)
        sender.send(delivery("anggota3@example.id"))
        wait_until(lambda: len(server.messages("anggota3@example.id")) == 1, timeout=10,
                   message="the email sent after the server's restart")
    finally:
        sender.close()
        server.stop()
    assert sender._idle == []


# -- a real relay: TLS (STARTTLS or implicit), a login, a certificate to verify ----------

def self_signed(folder, *names):
    """A self-signed certificate (and its key) for ``names`` (host names or IP
    addresses), good for a day: PEM files ``cert.pem`` and ``key.pem`` in ``folder``."""
    import ipaddress
    from datetime import datetime, timedelta, timezone

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def alternative_name(name):
        try:
            return x509.IPAddress(ipaddress.ip_address(name))
        except ValueError:
            return x509.DNSName(name)

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.now(timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([alternative_name(n) for n in names]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    cert, key_file = folder / "cert.pem", folder / "key.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return types.SimpleNamespace(cert=cert, key=key_file)


@pytest.fixture(scope="module")
def relay_certificate(tmp_path_factory):
    return self_signed(tmp_path_factory.mktemp("relay-tls"), "localhost", "127.0.0.1")


@pytest.fixture
def start_relay(tmp_path, relay_certificate):
    """``start_relay(mode, **options)``: a relay on a free port; stopped after the test."""
    relays = []

    def start(mode, certificate=relay_certificate, port=None, **options):
        relay = RelayProcess(tmp_path, port or free_port(), mode, certificate.cert,
                             certificate.key, **options)
        relays.append(relay)
        return relay

    yield start
    for relay in relays:
        relay.stop()


def relay_sender(relay, security, ca_file, password="s3cret", **options):
    return EmailSender("127.0.0.1", relay.port, "Ekraf Kaltim <noreply@ekraf.example>",
                       timeout=5, security=security, username="relay-user", password=password,
                       ca_file=ca_file and str(ca_file), **options)


@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN"])
def test_starttls_and_login_deliver_and_a_kept_session_stays_logged_in(
        tmp_path, start_relay, relay_certificate, mechanism):
    relay = start_relay("starttls", mechanisms=[mechanism])
    sender = relay_sender(relay, "starttls", relay_certificate.cert)
    try:
        for number in range(3):
            sender.send(delivery(f"anggota{number}@example.id"))
        assert len(sender._idle) == 1
        mails = wait_until(lambda: len(relay.mails()) == 3 and relay.mails(), timeout=10)
        # One login, over TLS, served all three: the kept session stayed logged in.
        assert relay.logins() == [{"auth": mechanism, "login": "relay-user", "success": True,
                                   "tls": True}]
        assert all(mail["tls"] and mail["login"] == "relay-user" for mail in mails)
        assert [mail["to"] for mail in mails] == [[f"anggota{n}@example.id"] for n in range(3)]
        assert "EK-2026-00001" in mails[0]["data"]

        # The relay restarts: the kept session is dead; a fresh one logs in again.
        relay.stop()
        relay = start_relay("starttls", port=relay.port, mechanisms=[mechanism])
        sender.send(delivery("anggota3@example.id"))
        assert [mail["to"] for mail in relay.mails()] == [["anggota3@example.id"]]
        assert [login["success"] for login in relay.logins()] == [True]
    finally:
        sender.close()


def test_implicit_tls_delivers(start_relay, relay_certificate):
    relay = start_relay("tls")
    sender = relay_sender(relay, "tls", relay_certificate.cert)
    try:
        sender.send(delivery("anggota@example.id"))
        sender.send(delivery("anggota2@example.id"))
    finally:
        sender.close()
    mails = relay.mails()
    assert [mail["to"] for mail in mails] == [["anggota@example.id"], ["anggota2@example.id"]]
    assert all(mail["tls"] and mail["login"] == "relay-user" for mail in mails)
    assert len(relay.logins()) == 1


@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_a_wrong_password_is_a_failed_send_with_its_reason(start_relay, relay_certificate, mode):
    relay = start_relay(mode)
    sender = relay_sender(relay, mode, relay_certificate.cert, password="wrong-s3cret")
    with pytest.raises(SendFailed) as failed:
        sender.send(delivery("anggota@example.id"))
    reason = str(failed.value)
    assert reason.startswith("the SMTP relay refused the login of 'relay-user': 535")
    assert "wrong-s3cret" not in reason
    # smtplib tries each mechanism offered (PLAIN, then LOGIN): each refused, over TLS.
    assert {(login["login"], login["success"], login["tls"]) for login in relay.logins()} == {
        ("relay-user", False, True)}
    assert relay.mails() == [] and sender._idle == []  # the refused session was not kept


def test_the_worker_records_a_refused_login_as_the_deliverys_error(
        start_relay, relay_certificate):
    """What the delivery worker does with it: the reason becomes ``last_error`` (and
    the delivery is tried again, then ``failed``), the worker goes on."""
    relay = start_relay("starttls")
    worker = DeliveryWorker()
    worker.container = types.SimpleNamespace(config={
        "SMTP_HOST": "127.0.0.1", "SMTP_PORT": relay.port, "SMTP_SECURITY": "starttls",
        "SMTP_USERNAME": "relay-user", "SMTP_PASSWORD": "wrong-s3cret",
        "SMTP_CA_FILE": str(relay_certificate.cert), "NOTIFY_SEND_TIMEOUT_SECONDS": "5"})
    worker.setup()
    outcomes = []
    worker.record_outcome = lambda delivery_id, lease, error: outcomes.append(error)
    email = delivery("anggota@example.id")
    email.locked_until = None
    worker.send("email", email)
    [error] = outcomes
    assert error.startswith("SendFailed: the SMTP relay refused the login of 'relay-user'")
    assert "wrong-s3cret" not in error and "anggota@example.id" not in error


@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_a_relay_whose_certificate_is_not_trusted_is_refused(
        tmp_path, start_relay, relay_certificate, mode):
    relay = start_relay(mode)
    # Without SMTP_CA_FILE: the system's CAs, which never signed this certificate.
    sender = relay_sender(relay, mode, None)
    with pytest.raises(SendFailed, match="the SMTP relay's certificate is not trusted .*"
                                         "set SMTP_CA_FILE"):
        sender.send(delivery("anggota@example.id"))
    assert relay.logins() == [] and relay.mails() == []  # nothing said before TLS was up
    # With SMTP_CA_FILE pointing at it: accepted.
    sender = relay_sender(relay, mode, relay_certificate.cert)
    try:
        sender.send(delivery("anggota@example.id"))
    finally:
        sender.close()
    assert [mail["to"] for mail in relay.mails()] == [["anggota@example.id"]]


def test_a_certificate_for_another_host_name_is_refused(tmp_path, start_relay):
    other = self_signed(tmp_path / "other", "relay.example.net")
    relay = start_relay("starttls", certificate=other)
    sender = relay_sender(relay, "starttls", other.cert)  # trusted, but not for 127.0.0.1
    with pytest.raises(SendFailed, match="not trusted .*(mismatch|doesn't match)"):
        sender.send(delivery("anggota@example.id"))
    assert relay.logins() == [] and relay.mails() == []


def test_the_service_refuses_to_start_with_a_login_over_plain_smtp(tmp_path, base_config):
    """As an operator would see it: ``nameko run`` stops, naming the problem."""
    code, log = run_until_it_stops("notifications", {
        "AMQP_URI": base_config["AMQP_URI"],
        "SMTP_HOST": "smtp.example.net", "SMTP_PORT": "587",
        "SMTP_USERNAME": "relay-user", "SMTP_PASSWORD": "s3cret-password",
    }, tmp_path)
    assert code != 0
    assert "SMTP_USERNAME is set but SMTP_SECURITY is none" in log
    assert "s3cret-password" not in log
