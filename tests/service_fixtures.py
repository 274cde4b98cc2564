"""The services started as operators start them (``nameko run`` processes), each
with its own database, and outside subscribers recording every message they send.
Shared by every test folder; started once per test run, on first use."""
import pytest
import sqlalchemy as sa
from nameko.standalone.rpc import ClusterRpcProxy

from tests.support.broker import CERTIFICATE_EVENTS, EVENT_MESSAGES, MEMBER_EVENTS, listening
from tests.support.outside import FakeSmsGateway, SmtpServer
from tests.support.services import free_port, running_service
from tests.support.identities import admin_context


@pytest.fixture(scope="session")
def member_messages(base_config):
    """Every members message, as a subscriber of another team receives it."""
    with listening(base_config, "members", MEMBER_EVENTS) as message_log:
        yield message_log


@pytest.fixture(scope="session")
def members_service(base_config, make_database, member_messages, tmp_path_factory):
    with running_service("members", base_config, make_database("members"),
                         tmp_path_factory.getbasetemp(),
                         MEMBERSHIP_EXPIRY_CHECK_SECONDS=1) as process:  # the daily timer
        yield process


@pytest.fixture(scope="session")
def certificate_messages(base_config):
    """Every certification message, as a subscriber of another team receives it."""
    with listening(base_config, "certification", CERTIFICATE_EVENTS,
                   name="certificate_watcher") as message_log:
        yield message_log


@pytest.fixture(scope="session")
def certification_service(base_config, make_database, members_service, certificate_messages,
                          tmp_path_factory):
    with running_service(
            "certification", base_config, make_database("certification"),
            tmp_path_factory.getbasetemp(),
            PUBLIC_BASE_URL="https://sertifikat.ekraf-kaltim.test",
            CERTIFICATE_EXPIRY_CHECK_SECONDS=1,  # the daily timer, every second here
            HTTP_RATE_LIMIT_PER_MINUTE=60,
            TRUSTED_PROXIES="127.0.0.9",  # a reverse proxy, for the rate limit's test
    ) as process:
        yield process


@pytest.fixture(scope="session")
def event_messages(base_config):
    """Every events message, as a subscriber of another team receives it."""
    with listening(base_config, "events", EVENT_MESSAGES, name="event_watcher") as message_log:
        yield message_log


@pytest.fixture(scope="session")
def events_service(base_config, make_database, members_service, event_messages,
                   tmp_path_factory):
    with running_service("events", base_config, make_database("events"),
                         tmp_path_factory.getbasetemp()) as process:
        yield process


@pytest.fixture(scope="session")
def members_db(members_service):
    """Direct access to the service's database, for setting up what RPC cannot."""
    engine = sa.create_engine(members_service.env["MEMBERS_DB_URL"])
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def rpc(base_config, members_service):
    with ClusterRpcProxy(base_config, context_data=admin_context(), timeout=30) as proxy:
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
    with running_service(
            "notifications", base_config, make_database("notifications"),
            tmp_path_factory.getbasetemp(),
            SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port,
            SMTP_FROM="EKRAF Kaltim <noreply@ekraf-kaltim.test>",
            SMS_WEBHOOK_URL=sms_gateway.url,
            NOTIFY_RETRY_DELAYS_SECONDS="0.2,0.4,0.8",  # fast, but the same schedule logic
            NOTIFY_POLL_SECONDS=0.2,
            NOTIFY_SEND_TIMEOUT_SECONDS=3,
            PROCESSED_PRUNE_CHECK_SECONDS=1,  # the hourly timer, every second here
    ) as process:
        yield process


@pytest.fixture(scope="session")
def notifications_db(notifications_service):
    engine = sa.create_engine(notifications_service.env["NOTIFICATIONS_DB_URL"])
    yield engine
    engine.dispose()
