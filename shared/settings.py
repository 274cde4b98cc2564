"""Every setting of the services: its name, type, default and meaning, in one place.

    settings = settings_of(self.container)       # in an extension's setup()
    settings.OUTBOX_POLL_SECONDS                 # 2.0, or what the operator set

Each setting is an environment variable that ``config.yml`` passes through
(``OUTBOX_POLL_SECONDS: ${OUTBOX_POLL_SECONDS:}``); the defaults are here, not
there. ``settings_of(container)`` parses the container's config dict once, on first
use, and keeps the result on the container; ``shared.db.Database.setup()``, which
every service has, asks for it first, so a malformed or unknown value stops
``nameko run`` at start with a ``SettingsError`` naming the variable.

Values may be strings (from YAML and the environment) or already numbers and lists
(a config dict built in Python, as the tests do); an empty value counts as unset.

Nameko reads a few of these itself before any of our code runs (``AMQP_URI``,
``WEB_SERVER_ADDRESS``, ``max_workers`` from ``MAX_WORKERS``, and ``LOG_LEVEL``,
``LOG_FORMAT``, ``CALL_LOG_LEVEL`` inside ``LOGGING``), so config.yml must name their
defaults too; a unit test keeps those equal to the ones here.

The settings table in docs/operations.md is generated from this module:
``python -m devtools.settings``.
"""
import dataclasses
import ipaddress
import logging
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from nameko.extensions import DependencyProvider

log = logging.getLogger(__name__)

SMTP_SECURITY_MODES = ("none", "starttls", "tls")

# Keys nameko itself reads from the config dict (nameko.constants and its extensions).
NAMEKO_KEYS = frozenset({
    "AMQP_URI", "WEB_SERVER_ADDRESS", "LOGGING", "max_workers", "parent_calls_tracked",
    "rpc_exchange", "serializer", "SERIALIZERS", "ACCEPT", "HEARTBEAT", "AMQP_SSL",
    "TRANSPORT_OPTIONS", "LOGIN_METHOD", "AUTO_DELETE_EVENT_EXCHANGES",
    "DECLARE_EVENT_EXCHANGES", "SERVICE_CONTAINER_CLS",
})


class SettingsError(ValueError):
    """A setting that is malformed, unknown or inconsistent; the message names it."""


# -- parsers: (name, value) -> the typed value, or SettingsError ---------------------

def text(name, value):
    return str(value)


def _number(name, value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise SettingsError(f"{name} must be {what}; got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise SettingsError(f"{name} must be {what}; got {value!r}") from None
    if not number > 0 or number == float("inf"):
        raise SettingsError(f"{name} must be {what}; got {value!r}")
    return number


def positive_number(name, value):
    return _number(name, value, "a number greater than 0")


def positive_integer(name, value):
    number = _number(name, value, "a whole number greater than 0")
    if not number.is_integer():
        raise SettingsError(f"{name} must be a whole number greater than 0; got {value!r}")
    return int(number)


def port(name, value):
    number = positive_integer(name, value)
    if number > 65535:
        raise SettingsError(f"{name} must be a port number (1-65535); got {value!r}")
    return number


def _delays(name, value, example):
    """A comma-separated list of delays, each positive and none shorter than the one
    before (a backoff): a slip such as ``5,30,1`` stops the service at start rather
    than retrying faster and faster."""
    items = value if isinstance(value, (list, tuple)) else \
        [value] if isinstance(value, (int, float)) else \
        [part for part in str(value).split(",") if part.strip()]
    delays = []
    for item in items:
        try:
            delays.append(float(item) if not isinstance(item, bool) else float("nan"))
        except (TypeError, ValueError):
            delays.append(float("nan"))
    if any(not delay > 0 for delay in delays) or delays != sorted(delays):
        shown = ",".join(f"{delay:g}" if delay == delay else repr(item)
                         for delay, item in zip(delays, items))
        raise SettingsError(f"{name} must be positive delays{example[0]}, each at least the "
                            f"one before it (e.g. {example[1]}); got {shown}")
    return tuple(delays)


def delays_in_seconds(name, value):
    return _delays(name, value, (" in seconds", "5,30,120,600"))


def delays_in_milliseconds(name, value):
    delays = _delays(name, value, (" in whole milliseconds", "1000,5000,30000"))
    if not all(delay.is_integer() for delay in delays):
        raise SettingsError(f"{name} must be whole milliseconds (e.g. 1000,5000,30000); "
                            f"got {','.join(f'{delay:g}' for delay in delays)}")
    return tuple(int(delay) for delay in delays)


def smtp_security(name, value):
    mode = str(value).strip().lower()
    if mode not in SMTP_SECURITY_MODES:
        raise SettingsError(f"{name} must be one of {', '.join(SMTP_SECURITY_MODES)}; "
                            f"got {value!r}")
    return mode


def networks(name, value):
    """Addresses or networks, comma-separated (``10.0.0.5``, ``172.16.0.0/12``)."""
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    found = []
    for item in (str(item).strip() for item in items):
        if item:
            try:
                found.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise SettingsError(f"{name}: {item!r} is not an address or network "
                                    "(e.g. 10.0.0.5 or 172.16.0.0/12)") from None
    return tuple(found)


def host_and_port(name, value):
    """``host:port``; an empty host means every interface."""
    address = str(value).strip()
    host, colon, number = address.rpartition(":")
    if not colon or not number.isdigit() or int(number) > 65535 or " " in host:
        raise SettingsError(f"{name} must be host:port (e.g. 127.0.0.1:9100); got {value!r}")
    return address


def http_url(name, value):
    url = str(value).strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"{name} must be an http:// or https:// URL; got {value!r}")
    return url


# -- the settings ---------------------------------------------------------------------

def setting(default, parse, doc, *, used_by, compose, shown=None, key=None, secret=False):
    """One setting: ``default`` (None: unset), how ``parse`` reads a given value, and
    what the generated table says: ``doc``, which services read it (``used_by``), how
    docker-compose sets it (``compose``), the default as shown (``shown``). ``key``:
    its name in the config dict when that is not the variable's (nameko's
    ``max_workers``). A ``secret`` is never shown, not even in ``repr``."""
    return field(default=default, repr=not secret, metadata={
        "parse": parse, "doc": doc, "used_by": used_by, "compose": compose,
        "shown": shown, "key": key, "secret": secret})


ALL = "all four"
RELAYS = "members, certification, events"
SUBSCRIBERS = "certification, events, notifications"
NOTIFICATIONS = "notifications"
CERTIFICATION = "certification"
DEFAULT = "default"


@dataclass(frozen=True)
class Settings:
    """Every setting a service reads, typed, defaults included; one per process."""

    AMQP_URI: str = setting(
        "amqp://guest:guest@localhost:5672/", text,
        "the RabbitMQ broker and login", used_by="all four; `ekraf`", secret=True,
        compose="fixed per service: `amqp://<service>:<SERVICE>_AMQP_PASSWORD@rabbitmq:5672/`")
    WEB_SERVER_ADDRESS: str = setting(
        "0.0.0.0:8000", host_and_port,
        "where the public HTTP listens (nameko's setting)", used_by=CERTIFICATION,
        compose="fixed `0.0.0.0:8000`; the host port is `CERTIFICATION_HTTP_PORT`")
    HTTP_RATE_LIMIT_PER_MINUTE: float = setting(
        120.0, positive_number,
        "public HTTP requests a minute per client address, then `429` with `Retry-After`",
        used_by=CERTIFICATION, compose="from `.env`")
    TRUSTED_PROXIES: tuple = setting(
        (), networks,
        "reverse proxies in front of certification's HTTP, comma-separated addresses or "
        "networks (`10.0.0.5`, `172.16.0.0/12`): a request from one counts against the "
        "client it names in `X-Forwarded-For` (the nearest entry that is not itself a "
        "trusted proxy); a value that is not an address stops the service at start",
        used_by=CERTIFICATION, compose="from `.env`", shown="empty")
    PUBLIC_BASE_URL: str = setting(
        "http://localhost:8000", http_url,
        "root of the verify links: in certificate messages (`verify_url`), in the QR "
        "code, in the credential's `iss`, in emails",
        used_by="certification; `ekraf verify`", compose="from `.env`")
    METRICS_ADDRESS: str = setting(
        None, host_and_port, "`host:port` where `/metrics` is served", used_by=ALL,
        compose="fixed `0.0.0.0:9100`", shown="empty: no metrics")
    MEMBERS_DB_URL: str = setting(
        None, text, "the members database, `postgresql://user:password@host:5432/db`",
        used_by="members", compose="fixed: `postgresql://members:…@postgres:5432/members`",
        shown="empty: SQLite `var/members.db`", secret=True)
    CERTIFICATION_DB_URL: str = setting(
        None, text, "the certification database", used_by=CERTIFICATION,
        compose="fixed, database `certification`", shown="empty: SQLite", secret=True)
    EVENTS_DB_URL: str = setting(
        None, text, "the events database", used_by="events",
        compose="fixed, database `events`", shown="empty: SQLite", secret=True)
    NOTIFICATIONS_DB_URL: str = setting(
        None, text, "the notifications database", used_by=NOTIFICATIONS,
        compose="fixed, database `notifications`", shown="empty: SQLite", secret=True)
    REGISTRY_DB_URL: str = setting(
        None, text,
        "the client registry (who may call the platform: `ekraf clients`); every service "
        "reads it, `ekraf clients` writes it", used_by="all four; `ekraf`",
        compose="fixed: `postgresql://registry:…@postgres:5432/registry`",
        shown="empty: SQLite `var/registry.db`", secret=True)
    CLIENTS_REFRESH_SECONDS: float = setting(
        2.0, positive_number,
        "how often a service re-reads the client registry: a revoked client or a rotated "
        "secret is refused within this (plus a call's time; keep it under 5 s for the 10 s "
        "promise); a registry unreadable for 8 s (or four intervals, if longer) makes the "
        "service refuse every call until it is back", used_by=ALL, compose=DEFAULT)
    VAR_DIR: str = setting(
        "var", text, "local state: SQLite files, the generated signing key",
        used_by="all (certification for the key)",
        compose="default: `/app/var`, the `certification-var` volume for certification")
    CERT_SIGNING_KEY_FILE: str = setting(
        None, text, "path of the Ed25519 private key (PEM, PKCS#8, unencrypted)",
        used_by=CERTIFICATION, compose="from `.env` (optional)",
        shown="empty: a key made once in `VAR_DIR`")
    SMTP_HOST: str = setting(
        "localhost", text, "SMTP server for email", used_by=NOTIFICATIONS,
        compose="`.env`, else `mailcatcher`")
    SMTP_PORT: int = setting(
        1025, port, "its port", used_by=NOTIFICATIONS, compose="`.env`, else `1025`")
    SMTP_FROM: str = setting(
        "noreply@ekraf-kaltim.example", text, "sender address", used_by=NOTIFICATIONS,
        compose="`.env`, else `EKRAF Kaltim <noreply@ekraf-kaltim.example>`")
    SMTP_SECURITY: str = setting(
        "none", smtp_security,
        "`none`: plain SMTP (a local mail catcher); `starttls`: plain connection upgraded "
        "to TLS before anything else (the submission port, usually 587; a relay that does "
        "not offer STARTTLS is refused, never used in the clear); `tls`: TLS from the "
        "first byte (usually 465). With TLS the relay's certificate and host name "
        "(`SMTP_HOST`) are always verified. Another value stops the service at start",
        used_by=NOTIFICATIONS, compose="`.env`, else `none`")
    SMTP_USERNAME: str = setting(
        None, text,
        "log in to the relay (AUTH PLAIN or LOGIN, as it offers) with this user; each new "
        "SMTP session logs in once, and a kept session stays logged in. Needs "
        "`SMTP_SECURITY` `starttls` or `tls`: with `none` the service refuses to start "
        "(`SMTP_USERNAME is set but SMTP_SECURITY is none: refusing to send the SMTP "
        "password over an unencrypted connection ...`)",
        used_by=NOTIFICATIONS, compose="`.env` (optional)", shown="empty: no login")
    SMTP_PASSWORD: str = setting(
        None, text,
        "the relay login's password; set with `SMTP_USERNAME` or not at all (one without "
        "the other stops the service at start). Read verbatim (`0123`, `#x` stay text), "
        "never logged",
        used_by=NOTIFICATIONS, compose="`.env` (empty in `.env.example`)", shown="empty",
        secret=True)
    SMTP_CA_FILE: str = setting(
        None, text,
        "path of a PEM CA bundle that signed the relay's certificate (a private CA); used "
        "instead of the system's CAs. Unreadable: the service refuses to start",
        used_by=NOTIFICATIONS, compose="`.env` (optional; mount the file into the container)",
        shown="empty: the system's CAs")
    SMS_WEBHOOK_URL: str = setting(
        None, http_url, "the SMS/WhatsApp gateway's webhook", used_by=NOTIFICATIONS,
        compose="from `.env` (optional)", shown="empty: SMS off")
    MAX_WORKERS: int = setting(
        10, positive_integer,
        "concurrent workers per service process (nameko's `max_workers`); also sizes the "
        "database pools", used_by=ALL, compose=DEFAULT, key="max_workers")
    OUTBOX_POLL_SECONDS: float = setting(
        2.0, positive_number,
        "the outbox relay also wakes this often (it wakes at once after each commit anyway)",
        used_by=RELAYS, compose=DEFAULT)
    OUTBOX_BATCH_SIZE: int = setting(
        500, positive_integer, "messages published per batch", used_by=RELAYS,
        compose=DEFAULT)
    OUTBOX_RETENTION_HOURS: float = setting(
        168.0, positive_number, "sent outbox rows are deleted after this", used_by=RELAYS,
        compose=DEFAULT)
    OUTBOX_PRUNE_CHECK_SECONDS: float = setting(
        600.0, positive_number,
        "how often the outbox relay deletes sent rows and applied `event_id`s past their "
        "retention", used_by=RELAYS, compose=DEFAULT)
    PROCESSED_RETENTION_DAYS: float = setting(
        30.0, positive_number,
        "how long a service remembers the `event_id`s it has applied (its duplicate filter)",
        used_by="certification, events (their outbox relay prunes), notifications (a timer "
                "prunes)", compose=DEFAULT)
    PROCESSED_PRUNE_CHECK_SECONDS: float = setting(
        3600.0, positive_number,
        "how often notifications forgets applied `event_id`s past the retention",
        used_by=NOTIFICATIONS, compose=DEFAULT)
    HANDLER_RETRY_DELAYS_MS: tuple = setting(
        (1000, 5000, 30000, 120000), delays_in_milliseconds,
        "a message whose handler fails is tried again after each delay, then parked in the "
        "dead-letter queue; whole milliseconds, positive, none shorter than the one before",
        used_by=SUBSCRIBERS, compose=DEFAULT)
    MEMBERSHIP_EXPIRY_CHECK_SECONDS: float = setting(
        86400.0, positive_number,
        "how often members past `valid_until` become `lapsed` (also at start)",
        used_by="members", compose=DEFAULT)
    CERTIFICATE_EXPIRY_CHECK_SECONDS: float = setting(
        86400.0, positive_number,
        "how often certificates expire and reminders (90 and 30 days before) go out (also "
        "at start)", used_by=CERTIFICATION, compose=DEFAULT)
    NOTIFY_RETRY_DELAYS_SECONDS: tuple = setting(
        (5.0, 30.0, 120.0, 600.0, 1800.0), delays_in_seconds,
        "a failed email or SMS is tried again after each delay, then ends `failed`; the "
        "delays must be positive and none shorter than the one before (the service refuses "
        "to start otherwise)", used_by=NOTIFICATIONS, compose=DEFAULT)
    NOTIFY_SEND_CONCURRENCY: int = setting(
        10, positive_integer, "sends at once, per channel", used_by=NOTIFICATIONS,
        compose=DEFAULT)
    NOTIFY_POLL_SECONDS: float = setting(
        1.0, positive_number, "how often the sender looks for due retries",
        used_by=NOTIFICATIONS, compose=DEFAULT)
    NOTIFY_SEND_TIMEOUT_SECONDS: float = setting(
        10.0, positive_number,
        "timeout of each SMTP or gateway call (a whole send may take twice this)",
        used_by=NOTIFICATIONS, compose=DEFAULT)
    RPC_TIMEOUT_SECONDS: float = setting(
        10.0, positive_number,
        "how long a service waits for another's answer (certification, events and "
        "notifications call `members.get`)", used_by=SUBSCRIBERS, compose=DEFAULT)
    # The <NAME>_DB_URL of a service other than the four (a test's own), see db_url().
    other_db_urls: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_config(cls, config, service_name=None):
        """The settings in a nameko config dict, checked; ``SettingsError`` names the
        first variable that is malformed, unknown or inconsistent with another.
        ``service_name``: a service other than the four may have its own
        ``<NAME>_DB_URL``; any other unknown ``..._DB_URL`` is a typo, not a setting."""
        config = config or {}
        values = {}
        for spec in dataclasses.fields(cls):
            if "parse" not in spec.metadata:
                continue
            value = config.get(spec.metadata["key"] or spec.name)
            if value is None or (isinstance(value, str) and value == ""):
                continue  # unset (config.yml's ${VAR:} with VAR unset): the default
            values[spec.name] = spec.metadata["parse"](spec.name, value)
        known = {spec.metadata["key"] or spec.name
                 for spec in dataclasses.fields(cls) if "parse" in spec.metadata}
        other_db_urls = {}
        own_db_url = f"{service_name.upper()}_DB_URL" if service_name else None
        for key in config:
            if key == own_db_url and key not in known:
                if config[key] not in (None, ""):
                    other_db_urls[key] = text(key, config[key])
            elif key not in known and key not in NAMEKO_KEYS:
                spec = cls.__dataclass_fields__.get(key)
                hint = (f"the config key is {spec.metadata['key']}" if spec is not None
                        else "a typo?")
                raise SettingsError(
                    f"{key} is not a setting ({hint}); the settings are listed in "
                    "docs/operations.md#configuration")
        settings = cls(**values, other_db_urls=other_db_urls)
        settings._check_smtp_login()
        return settings

    def _check_smtp_login(self):
        if self.SMTP_PASSWORD and not self.SMTP_USERNAME:
            raise SettingsError("SMTP_PASSWORD is set but SMTP_USERNAME is not: set both "
                                "to log in to the relay, or neither")
        if self.SMTP_USERNAME and not self.SMTP_PASSWORD:
            raise SettingsError("SMTP_USERNAME is set but SMTP_PASSWORD is empty: set both "
                                "to log in to the relay, or neither")
        if self.SMTP_USERNAME and self.SMTP_SECURITY == "none":
            raise SettingsError("SMTP_USERNAME is set but SMTP_SECURITY is none: refusing to "
                                "send the SMTP password over an unencrypted connection; set "
                                "SMTP_SECURITY=starttls (port 587) or tls (port 465)")
        if self.SMTP_CA_FILE and self.SMTP_SECURITY == "none":
            raise SettingsError("SMTP_CA_FILE is set but SMTP_SECURITY is none: set "
                                "SMTP_SECURITY=starttls or tls for the CA to be used")

    def db_url(self, service_name):
        """``<SERVICE>_DB_URL``, or None (then a SQLite file under ``VAR_DIR``)."""
        key = f"{service_name.upper()}_DB_URL"
        return getattr(self, key, None) if key in self.__dataclass_fields__ \
            else self.other_db_urls.get(key)


# Read by nameko's logging setup (config.yml's LOGGING), never by our code: listed here
# for the generated table; config.yml holds their defaults (a test keeps them equal).
@dataclass(frozen=True)
class LoggingSetting:
    name: str
    default: str
    doc: str
    used_by: str = ALL
    compose: str = DEFAULT


LOGGING_SETTINGS = (
    LoggingSetting("LOG_LEVEL", "INFO", "level of the root logger"),
    LoggingSetting("LOG_FORMAT", "json",
                   "`json`: one JSON object per line; `plain`: text lines (`ekraf up` uses "
                   "`plain` unless set)", compose="`.env`, else `json`"),
    LoggingSetting("CALL_LOG_LEVEL", "INFO",
                   "the `ekraf.calls` line per RPC call and per handled message; `WARNING` "
                   "silences it (`ekraf up --demo` does)"),
)

# Whose defaults config.yml must spell out itself, because nameko reads them first.
NAMEKO_DEFAULTS = ("AMQP_URI", "WEB_SERVER_ADDRESS", "MAX_WORKERS")

_ATTRIBUTE = "_ekraf_settings"


def settings_of(container):
    """The container's ``Settings``: parsed from its config on first use, then kept.

    A bad value raises ``SettingsError`` (logged once, one line naming the variable),
    which stops the service at start."""
    settings = getattr(container, _ATTRIBUTE, None)
    if settings is None:
        try:
            settings = Settings.from_config(container.config,
                                            getattr(container, "service_name", None))
        except SettingsError as error:
            if not getattr(container, _ATTRIBUTE + "_logged", False):
                setattr(container, _ATTRIBUTE + "_logged", True)
                log.error("%s cannot start: %s",
                          getattr(container, "service_name", "the service"), error)
            raise
        setattr(container, _ATTRIBUTE, settings)
    return settings


class ServiceSettings(DependencyProvider):
    """``settings = ServiceSettings()`` in a service class: ``self.settings.PUBLIC_BASE_URL``."""

    def setup(self):
        self.settings = settings_of(self.container)

    def get_dependency(self, worker_ctx):
        return self.settings
