"""docker/postgres/init-databases.sh, run for real on a throwaway PostgreSQL cluster:
each service's login reaches its own database and no other."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.outside import PostgresCluster

ROOT = Path(__file__).resolve().parent.parent
INIT_SCRIPT = ROOT / "docker" / "postgres" / "init-databases.sh"
# The four services, and the client registry every one of them reads (its own login).
SERVICES = ("members", "certification", "events", "notifications", "registry")


@pytest.fixture(scope="module")
def cluster():
    """A PostgreSQL cluster of our own (the postgres image's first start, in small)."""
    # md5/scram need passwords: trust for the superuser over the socket, passwords on TCP.
    cluster = PostgresCluster(host_auth="scram-sha-256")
    try:
        passwords = {f"{name.upper()}_DB_PASSWORD": f"pw-{name}-test" for name in SERVICES}
        env = {**os.environ, "POSTGRES_USER": "postgres", "PGHOST": str(cluster.folder),
               "PGPORT": str(cluster.port), **passwords}
        # A copy the postgres user can read wherever the checkout lives.
        script = cluster.folder / INIT_SCRIPT.name
        shutil.copy(INIT_SCRIPT, script)
        shutil.chown(script, "postgres", "postgres")
        subprocess.run(["runuser", "-u", "postgres", "--preserve-environment", "--", "bash",
                        str(script)], check=True, capture_output=True, env=env,
                       cwd=cluster.folder)
        yield cluster.port, passwords
    finally:
        cluster.destroy()


def connect(port, login, password, database):
    engine = sa.create_engine(
        f"postgresql://{login}:{password}@127.0.0.1:{port}/{database}",
        connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("CREATE TABLE IF NOT EXISTS probe (id int)"))
            connection.commit()
            return "ok"
    except sa.exc.OperationalError as error:
        return str(error.orig)
    finally:
        engine.dispose()


def test_each_login_reaches_its_own_database_only(cluster):
    port, passwords = cluster
    for login in SERVICES:
        password = passwords[f"{login.upper()}_DB_PASSWORD"]
        assert connect(port, login, password, login) == "ok"
        for other in [s for s in SERVICES if s != login] + ["postgres", "template1"]:
            outcome = connect(port, login, password, other)
            assert "permission denied" in outcome, (login, other, outcome)


def test_a_wrong_password_is_refused(cluster):
    port, _ = cluster
    assert "password authentication failed" in connect(port, "members", "guess", "members")
