"""The members service started as operators start it, with an outside subscriber."""
import pytest
import sqlalchemy as sa
from nameko.containers import ServiceContainer
from nameko.standalone.rpc import ClusterRpcProxy

from tests.support import MessageLog, ServiceProcess, subscriber_class, wait_for_rpc

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


@pytest.fixture(scope="session")
def members_service(base_config, make_database, member_messages, tmp_path_factory):
    log_path = tmp_path_factory.mktemp("logs") / "members.log"
    process = ServiceProcess("services.members.service", {
        "AMQP_URI": base_config["AMQP_URI"],
        "MEMBERS_DB_URL": make_database("members"),
        "VAR_DIR": base_config["VAR_DIR"],
        "MEMBERSHIP_EXPIRY_CHECK_SECONDS": "1",  # the daily timer, every second here
    }, log_path).start()
    try:
        wait_for_rpc(base_config, "members")
    except AssertionError:
        process.stop()
        raise AssertionError("members did not start:\n" + process.log()[-3000:])
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
