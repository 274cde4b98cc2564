"""The email sender against a real SMTP server: one SMTP session serves many emails,
and a kept session the server has closed in the meantime costs no email."""
import types
import uuid

from services.notifications.delivery import EmailSender
from tests.support import SmtpServer, free_port, wait_until


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
