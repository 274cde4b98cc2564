import pytest
import sqlalchemy as sa
from nameko.containers import ServiceContainer

from shared.tables import foundation_metadata
from tests.foundation import ledger_service
from tests.support.broker import drain_queue


@pytest.fixture
def ledger_db_url(fresh_db_url):
    engine = sa.create_engine(fresh_db_url)
    foundation_metadata.create_all(engine)
    ledger_service.metadata.create_all(engine)
    engine.dispose()
    return fresh_db_url


@pytest.fixture
def ledger_engine(ledger_db_url):
    engine = sa.create_engine(ledger_db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def ledger(base_config, ledger_db_url):
    """The ledger test service, running in this process against the real broker, its
    dead-letter queue empty (whatever a failed test left there is dropped), its
    skipped duplicates counted in ``ledger_service.skipped``."""
    # A long poll: any prompt delivery can only come from the wake-up after commit.
    container = ServiceContainer(ledger_service.LedgerService, {
        **base_config, "LEDGER_TEST_DB_URL": ledger_db_url, "OUTBOX_POLL_SECONDS": 30})
    with ledger_service.SkipCounter():
        container.start()  # declares the queues
        drain_queue(base_config["AMQP_URI"], "ledger_test.dead-letter")
        yield container
        container.stop()
