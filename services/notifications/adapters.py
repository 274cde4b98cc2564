"""The gateways a delivery goes out through: email over SMTP, SMS through the
gateway's webhook. Each sender's ``send(delivery)`` returns once the gateway has
accepted it, or raises ``SendFailed`` with a reason fit to show operators (after
``scrub``)."""
import json
import smtplib
import socket
import ssl
import time
import urllib.error
import urllib.request
from email.charset import QP, Charset
from email.header import Header
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, parseaddr


class SendFailed(Exception):
    pass


class SendTimedOut(SendFailed):
    pass


class EmailSender:
    """Sends each delivery as a MIME email (text/plain, UTF-8).

    ``security``: ``none`` (plain SMTP, for a local mail catcher), ``starttls`` (the
    session is upgraded before anything else is said, usually on port 587) or ``tls``
    (TLS from the first byte, usually port 465). With TLS the relay's certificate and
    host name are always verified, against ``ca_file`` when given (a relay with a
    private CA), else the system's CAs. With a ``username`` each new session logs in
    right after TLS is up. The settings are checked before they get here
    (``shared.settings``: a username without TLS stops the service at start, so a
    password never crosses the network in the clear).

    Connections are kept open between sends (up to ``keep`` idle ones, each for at
    most ``idle_seconds``), so that an email does not pay for a new SMTP session. A
    kept connection stays logged in. One the server has since closed is noticed on
    first use and the email goes out on a fresh one.
    """

    def __init__(self, host, port, sender, timeout=10.0, keep=10, idle_seconds=30.0,
                 security="none", username=None, password=None, ca_file=None):
        self.host, self.port, self.sender, self.timeout = host, int(port), sender, timeout
        self.keep, self.idle_seconds = keep, idle_seconds
        self.security, self.username, self._password = security, username, password
        self._tls = _tls_context(ca_file) if self.security != "none" else None
        self._idle = []  # (connection, time it was put back)
        name, address = parseaddr(sender)
        self._from = formataddr((name, address), charset="utf-8")  # a name may be non-ASCII
        self._domain = address.rpartition("@")[2] or "localhost"
        # smtplib looks the local name up (DNS) on every connection unless given one.
        self._local_hostname = socket.getfqdn()

    def message(self, delivery):
        # compat32 MIMEText: the same wire format as EmailMessage, without parsing
        # every header through the header registry.
        message = MIMEText(delivery.body, "plain", _BODY_CHARSET)
        message["From"] = self._from
        message["To"] = delivery.recipient
        message["Subject"] = _header(delivery.subject)
        message["Date"] = formatdate(localtime=False)
        # Fixed per delivery: a copy resent after a crash is recognisably the same mail.
        message["Message-ID"] = f"<{delivery.id}@{self._domain}>"
        message["Content-Language"] = delivery.locale
        return message

    def send(self, delivery):
        message = self.message(delivery)
        connection, reused = self._connection()
        try:
            connection.send_message(message)
        except (smtplib.SMTPServerDisconnected, OSError):
            connection.close()
            if not reused:
                raise
            connection = self._open()  # the kept one had gone stale: once more, fresh
            try:
                connection.send_message(message)
            except BaseException:
                connection.close()
                raise
        except BaseException:  # refused, or timed out mid-session: not reusable
            connection.close()
            raise
        self._put_back(connection)

    def _open(self):
        """A new session, upgraded to TLS and logged in as the settings say."""
        try:
            if self.security == "tls":
                connection = smtplib.SMTP_SSL(self.host, self.port, context=self._tls,
                                              local_hostname=self._local_hostname,
                                              timeout=self.timeout)
            else:
                connection = smtplib.SMTP(self.host, self.port,
                                          local_hostname=self._local_hostname,
                                          timeout=self.timeout)
        except ssl.SSLCertVerificationError as error:
            raise _untrusted(error) from None
        try:
            if self.security == "starttls":
                # starttls() refuses (SMTPNotSupportedError) a relay that does not
                # offer it: never falls back to plain text.
                connection.starttls(context=self._tls)
            if self.username:
                connection.login(self.username, self._password)
        except ssl.SSLCertVerificationError as error:
            connection.close()
            raise _untrusted(error) from None
        except smtplib.SMTPAuthenticationError as error:
            connection.close()
            raise SendFailed(f"the SMTP relay refused the login of {self.username!r}: "
                             f"{error.smtp_code} {_text(error.smtp_error)}") from None
        except BaseException:
            connection.close()
            raise
        return connection

    def _connection(self):
        now = time.monotonic()
        while self._idle:
            connection, since = self._idle.pop()
            if now - since < self.idle_seconds:
                return connection, True
            _close(connection)
        return self._open(), False

    def _put_back(self, connection):
        if len(self._idle) < self.keep:
            self._idle.append((connection, time.monotonic()))
        else:
            _close(connection)

    def close(self):
        while self._idle:
            _close(self._idle.pop()[0])


_BODY_CHARSET = Charset("utf-8")
_BODY_CHARSET.body_encoding = QP  # readable in a mail catcher, unlike base64


def _header(text):
    """A header value: plain when ASCII, RFC 2047 encoded otherwise."""
    return text if text.isascii() else Header(text, "utf-8").encode()


def _tls_context(ca_file):
    """Verifies the relay's certificate and host name: against ``ca_file`` alone when
    given, else against the system's CAs."""
    try:
        return ssl.create_default_context(cafile=ca_file or None)
    except (OSError, ssl.SSLError) as error:
        raise ValueError(f"SMTP_CA_FILE {ca_file!r} is not a readable PEM CA bundle: "
                         f"{error}") from None


def _untrusted(error):
    return SendFailed(f"the SMTP relay's certificate is not trusted "
                      f"({error.verify_message}); if the relay uses a private CA, set "
                      f"SMTP_CA_FILE to it")


def _text(reply):
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _close(connection):
    try:
        connection.quit()
    except (smtplib.SMTPException, OSError):
        connection.close()


class SmsSender:
    """POSTs ``{"to", "message", "reference", "locale"}`` as JSON; 2xx means accepted."""

    def __init__(self, url, timeout=10.0):
        self.url, self.timeout = url, timeout

    def send(self, delivery):
        payload = json.dumps({"to": delivery.recipient, "message": delivery.body,
                              "reference": delivery.id, "locale": delivery.locale}).encode()
        request = urllib.request.Request(self.url, data=payload, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read(1024)
        except urllib.error.HTTPError as error:
            raise SendFailed(f"SMS gateway answered {error.code}") from None
        except (urllib.error.URLError, OSError) as error:
            raise SendFailed(f"SMS gateway unreachable: {getattr(error, 'reason', error)}") from None


def scrub(text, recipient):
    """An error text without the address it was sent to: it is shown to operators."""
    return text.replace(recipient, "<recipient>") if recipient else text
