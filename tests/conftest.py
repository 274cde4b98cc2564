"""Test infrastructure: a real RabbitMQ and a real PostgreSQL, isolated per run.

By default the tests use the RabbitMQ and PostgreSQL already running on this
machine (``TEST_AMQP_URI`` / ``TEST_PG_URL`` to point elsewhere): each test run
gets its own RabbitMQ vhost and its own PostgreSQL databases, dropped at the end.
``pytest --docker`` brings both up from tests/docker-compose.test.yml instead
(pytest-docker), for machines with Docker and without the services.
"""
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # eventlet announces its own deprecation on import
    import eventlet

eventlet.monkey_patch()  # must come first: nameko and the tests rely on green I/O


def _keep_xdist_worker_on_os_threads():
    """Under pytest-xdist, a worker's main thread waits for its next test on an Event
    that execnet's reader (an OS thread, started before this file ran) sets; a green
    Event made after monkey_patch would never be woken from another OS thread, and the
    worker would hang. So the worker's execnet keeps the unpatched primitives."""
    import os

    if "PYTEST_XDIST_WORKER" not in os.environ:
        return
    from execnet import gateway_base

    threading = eventlet.patcher.original("threading")
    queue = eventlet.patcher.original("queue")
    thread = eventlet.patcher.original("_thread")
    time = eventlet.patcher.original("time")
    model = gateway_base.ThreadExecModel
    model.queue = property(lambda self: queue)
    model.Lock = model.RLock = lambda self: threading.RLock()
    model.Event = lambda self: threading.Event()
    model.start = lambda self, func, args=(): thread.start_new_thread(func, args)
    model.get_ident = lambda self: thread.get_ident()
    model.sleep = lambda self, delay: time.sleep(delay)


_keep_xdist_worker_on_os_threads()

import os  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import urlsplit, urlunsplit  # noqa: E402

import pytest  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from shared.config import load_config  # noqa: E402
from tests.support.broker import VhostPool  # noqa: E402
from tests.support.identities import close_test_registry, open_test_registry  # noqa: E402
from tests.support.services import ServiceProcess  # noqa: E402

RUN_ID = uuid.uuid4().hex[:8]
DEFAULT_AMQP_URI = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def pytest_addoption(parser):
    parser.addoption("--docker", action="store_true", default=False,
                     help="start RabbitMQ and PostgreSQL from tests/docker-compose.test.yml")


@pytest.fixture(scope="session")
def docker_compose_file(pytestconfig):
    return str(Path(__file__).parent / "docker-compose.test.yml")


@pytest.fixture(scope="session")
def infrastructure(request):
    """``(amqp_base_uri, postgres_admin_url)`` of the broker and database to test against."""
    if request.config.getoption("--docker"):
        docker_services = request.getfixturevalue("docker_services")
        docker_services.wait_until_responsive(
            timeout=120, pause=1, check=lambda: _amqp_answers(DEFAULT_AMQP_URI))
        docker_services.wait_until_responsive(
            timeout=120, pause=1, check=lambda: _postgres_answers(DEFAULT_PG_URL))
        return DEFAULT_AMQP_URI, DEFAULT_PG_URL
    return (os.environ.get("TEST_AMQP_URI", DEFAULT_AMQP_URI),
            os.environ.get("TEST_PG_URL", DEFAULT_PG_URL))


def _amqp_answers(uri):
    from kombu import Connection

    try:
        with Connection(uri, connect_timeout=2) as connection:
            connection.connect()
        return True
    except Exception:
        return False


def _postgres_answers(url):
    engine = sa.create_engine(url, connect_args={"connect_timeout": 2})
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def vhost_pool(infrastructure, request):
    """RabbitMQ vhosts for this run, made a few at a time and all deleted at the end."""
    if request.config.getoption("--docker"):
        yield None
        return
    pool = VhostPool(infrastructure[0], RUN_ID)
    yield pool
    pool.delete_all()


@pytest.fixture(scope="session")
def amqp_uri(infrastructure, vhost_pool):
    """A vhost of this test run's own, so queues never leak between runs."""
    if vhost_pool is None:
        return infrastructure[0]  # a throwaway broker: its default vhost is ours alone
    return vhost_pool.take()


@pytest.fixture(scope="session")
def make_database(infrastructure):
    """Create a PostgreSQL database for this run; returns its URL. All dropped at the end."""
    admin = sa.create_engine(infrastructure[1], isolation_level="AUTOCOMMIT")
    created = []

    def make(purpose):
        name = f"ekraf_test_{RUN_ID}_{purpose}"
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return urlunsplit(urlsplit(infrastructure[1])._replace(path="/" + name))

    yield make
    with admin.connect() as connection:
        for name in created:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def new_database(make_database):
    """``name -> URL`` of a new, empty database each time: what ``running_services``
    takes as ``databases`` for a stack of the test's own."""
    return lambda name: make_database(f"{name}_{uuid.uuid4().hex[:6]}")


@pytest.fixture
def fresh_db_url(make_database):
    """A new, empty PostgreSQL database for one test."""
    return make_database(uuid.uuid4().hex[:8])


@pytest.fixture(scope="session")
def registry_url(make_database):
    """The run's client registry, with its admin client (tests.support.identities)."""
    url = make_database("registry")
    open_test_registry(url)
    yield url
    close_test_registry()


@pytest.fixture(scope="session")
def base_config(amqp_uri, registry_url, tmp_path_factory):
    """config.yml as the services read it, pointed at this run's broker, client
    registry and a temp var/."""
    return load_config(overrides={
        "AMQP_URI": amqp_uri,
        "REGISTRY_DB_URL": registry_url,
        "VAR_DIR": str(tmp_path_factory.mktemp("var")),
        "HANDLER_RETRY_DELAYS_MS": "200,400",
        "OUTBOX_POLL_SECONDS": 0.5,
    })


def _own_vhost_config(vhost_pool, base_config):
    if vhost_pool is None:
        pytest.skip("needs rabbitmqctl to make a vhost of its own")
    return {**base_config, "AMQP_URI": vhost_pool.take()}


@pytest.fixture
def vhost_config(vhost_pool, base_config):
    """base_config pointed at a RabbitMQ vhost of the test's own: services it starts
    there share no queue with the session's services (which would otherwise take
    half of its calls and messages)."""
    return _own_vhost_config(vhost_pool, base_config)


@pytest.fixture(scope="module")
def module_vhost_config(vhost_pool, base_config):
    """As vhost_config, for a test module's own services."""
    return _own_vhost_config(vhost_pool, base_config)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """The fault tests (a minute or so each) first, after pytest-randomly's shuffle:
    the longest started first keep both xdist workers busy until the end."""
    items.sort(key=lambda item: not item.nodeid.startswith("tests/faults/"))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item, nextitem):
    """After the last test (of this worker), ask every service still running to stop
    at once, before the fixtures stop them one by one and wait for each."""
    if nextitem is None:
        ServiceProcess.terminate_all()


def pytest_sessionfinish(session):
    """Under ``make coverage``, an xdist worker ends without running exit handlers,
    so coverage.py would lose what the worker measured in-process: save it here."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return
    try:
        import coverage
    except ImportError:
        return
    measuring = coverage.Coverage.current()
    if measuring is not None:
        measuring.stop()
        measuring.save()


# The running services and their subscribers, shared by every test folder.
pytest_plugins = ["tests.service_fixtures"]
