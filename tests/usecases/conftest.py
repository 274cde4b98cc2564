"""The in-process tier: use cases on a real PostgreSQL, each test in a transaction
rolled back at its end, so tests never see each other's rows and may change
anything (expire everything due, fill every seat) without a service of their own."""
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared.migrations import upgrade_to_head
from tests.support.services import REPO_ROOT
from tests.support.usecases import notifications_worker


@pytest.fixture(scope="session")
def migrated_engine(make_database):
    """``service -> engine`` on a database of the run's own at the service's schema
    head (its own Alembic history, as the service migrates on start)."""
    engines = {}

    def engine_for(service):
        if service not in engines:
            engine = sa.create_engine(make_database(f"usecases_{service}"))
            upgrade_to_head(engine, service, REPO_ROOT / "services" / service / "migrations")
            engines[service] = engine
        return engines[service]

    yield engine_for
    for engine in engines.values():
        engine.dispose()


@pytest.fixture
def session_of(migrated_engine):
    """``service -> Session`` inside a transaction rolled back after the test; a
    commit in the code under test only releases a savepoint."""
    opened = []

    def open_session(service):
        connection = migrated_engine(service).connect()
        transaction = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint",
                          expire_on_commit=False)
        opened.append((connection, transaction, session))
        return session

    yield open_session
    for connection, transaction, session in opened:
        session.close()
        transaction.rollback()
        connection.close()


@pytest.fixture
def notifications(session_of):
    """The notifications service in-process, SMS enabled (see notifications_worker)."""
    return notifications_worker(session_of("notifications"))
