"""The services started as operators start them (``nameko run`` processes), each
with its own database, and outside subscribers recording every message they send.
Shared by every test folder; started once per test run, on first use."""
import pytest
import sqlalchemy as sa
from nameko.containers import ServiceContainer
from nameko.standalone.rpc import ClusterRpcProxy

from tests.support import (
    FakeSmsGateway, MessageLog, ServiceProcess, SmtpServer, free_port, subscriber_class,
    wait_for_rpc,
)

MEMBER_EVENTS = ["member_registered", "member_activated", "member_updated", "member_suspended",
                 "member_reinstated", "member_renewed", "member_lapsed"]


@pytest.fixture(scope="session")
def member_messages(base_config):
    """Every members message, as a subscriber of another team receives it."""
    message_log = MessageLog()
    container = ServiceContainer(
        subscriber_class("members", MEMBER_EVENTS, message_log), base_config)
    container.start()  # declares its queues before the service publishes anything
    yield message_log
    container.stop()


CERTIFICATE_EVENTS = ["application_submitted", "assessment_completed", "certificate_issued",
                      "certificate_suspended", "certificate_reinstated", "certificate_revoked",
                      "certificate_expired", "certificate_expiring"]


def start_service(base_config, tmp_path_factory, name, env):
    log_path = tmp_path_factory.getbasetemp() / f"{name}.log"
    metrics_port = free_port()
    process = ServiceProcess(f"services.{name}.service", {
        "AMQP_URI": base_config["AMQP_URI"], "VAR_DIR": base_config["VAR_DIR"],
        "HANDLER_RETRY_DELAYS_MS": base_config["HANDLER_RETRY_DELAYS_MS"],
        "METRICS_ADDRESS": f"127.0.0.1:{metrics_port}", **env,
    }, log_path).start()
    process.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        wait_for_rpc(base_config, name)
    except AssertionError:
        process.stop()
        raise AssertionError(f"{name} did not start:\n" + process.log()[-3000:])
    return process


@pytest.fixture(scope="session")
def members_service(base_config, make_database, member_messages, tmp_path_factory):
    process = start_service(base_config, tmp_path_factory, "members", {
        "MEMBERS_DB_URL": make_database("members"),
        "MEMBERSHIP_EXPIRY_CHECK_SECONDS": "1",  # the daily timer, every second here
    })
    yield process
    process.stop()


@pytest.fixture(scope="session")
def certificate_messages(base_config):
    """Every certification message, as a subscriber of another team receives it."""
    message_log = MessageLog()
    container = ServiceContainer(subscriber_class(
        "certification", CERTIFICATE_EVENTS, message_log, name="certificate_watcher"), base_config)
    container.start()
    yield message_log
    container.stop()


@pytest.fixture(scope="session")
def certification_service(base_config, make_database, members_service, certificate_messages,
                          tmp_path_factory):
    port = free_port()
    process = start_service(base_config, tmp_path_factory, "certification", {
        "CERTIFICATION_DB_URL": make_database("certification"),
        "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
        "PUBLIC_BASE_URL": "https://sertifikat.ekraf-kaltim.test",
        "CERTIFICATE_EXPIRY_CHECK_SECONDS": "1",  # the daily timer, every second here
        "HTTP_RATE_LIMIT_PER_MINUTE": "60",
        "TRUSTED_PROXIES": "127.0.0.9",  # a reverse proxy, for the rate limit's test
    })
    process.http_base = f"http://127.0.0.1:{port}"
    yield process
    process.stop()


EVENT_MESSAGES = ["event_published", "event_cancelled", "registration_confirmed",
                  "registration_waitlisted", "registration_promoted", "registration_cancelled",
                  "attendance_recorded"]


@pytest.fixture(scope="session")
def event_messages(base_config):
    """Every events message, as a subscriber of another team receives it."""
    message_log = MessageLog()
    container = ServiceContainer(subscriber_class(
        "events", EVENT_MESSAGES, message_log, name="event_watcher"), base_config)
    container.start()
    yield message_log
    container.stop()


@pytest.fixture(scope="session")
def events_service(base_config, make_database, members_service, event_messages,
                   tmp_path_factory):
    process = start_service(base_config, tmp_path_factory, "events",
                            {"EVENTS_DB_URL": make_database("events")})
    yield process
    process.stop()


@pytest.fixture(scope="session")
def members_db(members_service):
    """Direct access to the service's database, for setting up what RPC cannot."""
    engine = sa.create_engine(members_service.env["MEMBERS_DB_URL"])
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def rpc(base_config, members_service):
    with ClusterRpcProxy(base_config, timeout=30) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def certification_db(certification_service):
    engine = sa.create_engine(certification_service.env["CERTIFICATION_DB_URL"])
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def events_db(events_service):
    engine = sa.create_engine(events_service.env["EVENTS_DB_URL"])
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def smtp_server(tmp_path_factory):
    server = SmtpServer(tmp_path_factory.mktemp("maildir"), free_port())
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sms_gateway():
    gateway = FakeSmsGateway()
    yield gateway
    gateway.stop()


@pytest.fixture(scope="session")
def notifications_service(base_config, make_database, members_service, smtp_server, sms_gateway,
                          tmp_path_factory):
    process = start_service(base_config, tmp_path_factory, "notifications", {
        "NOTIFICATIONS_DB_URL": make_database("notifications"),
        "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_server.port),
        "SMTP_FROM": "EKRAF Kaltim <noreply@ekraf-kaltim.test>",
        "SMS_WEBHOOK_URL": sms_gateway.url,
        "NOTIFY_RETRY_DELAYS_SECONDS": "0.2,0.4,0.8",  # fast, but the same schedule logic
        "NOTIFY_POLL_SECONDS": "0.2",
        "NOTIFY_SEND_TIMEOUT_SECONDS": "3",
        "PROCESSED_PRUNE_CHECK_SECONDS": "1",  # the hourly timer, every second here
    })
    yield process
    process.stop()


@pytest.fixture(scope="session")
def notifications_db(notifications_service):
    engine = sa.create_engine(notifications_service.env["NOTIFICATIONS_DB_URL"])
    yield engine
    engine.dispose()
