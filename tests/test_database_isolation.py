"""docker/postgres/init-databases.sh, run for real on a throwaway PostgreSQL cluster:
each service's login reaches its own database and no other."""
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
INIT_SCRIPT = ROOT / "docker" / "postgres" / "init-databases.sh"
SERVICES = ("members", "certification", "events", "notifications")


def postgres_bin():
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return versions[-1].parent if versions else None


@pytest.fixture(scope="module")
def cluster():
    """A PostgreSQL cluster of our own (the postgres image's first start, in small)."""
    binaries = postgres_bin()
    if binaries is None or shutil.which("runuser") is None or os.geteuid() != 0:
        pytest.skip("needs PostgreSQL's server binaries and root (to run them as postgres)")
    # Outside pytest's own temp folder, which only root may enter.
    folder = Path(tempfile.mkdtemp(prefix="ekraf-pg-cluster-"))
    data = folder / "data"
    shutil.chown(folder, "postgres", "postgres")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    def as_postgres(*command, **kwargs):
        return subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True,
                              capture_output=True, **kwargs)

    # md5/scram need passwords: trust for the superuser over the socket, passwords on TCP.
    as_postgres(str(binaries / "initdb"), "-D", str(data), "-U", "postgres",
                "--auth-local=trust", "--auth-host=scram-sha-256")
    as_postgres(str(binaries / "pg_ctl"), "-D", str(data), "-w", "-l", str(folder / "log"),
                "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1", "start")
    try:
        passwords = {f"{name.upper()}_DB_PASSWORD": f"pw-{name}-test" for name in SERVICES}
        env = {**os.environ, "POSTGRES_USER": "postgres", "PGHOST": str(folder),
               "PGPORT": str(port), **passwords}
        # A copy the postgres user can read wherever the checkout lives.
        script = folder / INIT_SCRIPT.name
        shutil.copy(INIT_SCRIPT, script)
        shutil.chown(script, "postgres", "postgres")
        subprocess.run(["runuser", "-u", "postgres", "--preserve-environment", "--", "bash",
                        str(script)], check=True, capture_output=True, env=env, cwd=folder)
        yield port, passwords
    finally:
        as_postgres(str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


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
