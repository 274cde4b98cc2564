"""The demo (`make run`'s walk-through, `python -m demo`) against the session's four
services: it must pass, and fail loudly when a service it needs does not answer.

`make run ONCE=1` itself (installing, starting the services, the demo) is what
`.ci/run` runs before `make test`; here the demo's own checks are kept
from rotting: every step, the inbox, the certificate over HTTP and offline, and the
exact set of messages a subscriber of another team receives."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.identities import admin_client_file

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def four_services(rpc, certification_service, events_service, notifications_service):
    return certification_service


def run_demo(env, timeout, wait=20):
    return subprocess.run([sys.executable, "-m", "demo", "--wait", str(wait)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)


def demo_env(config, web_address):
    """The demo calls as the run's admin client (as `make run` makes it call as its own),
    and makes its people's clients in the run's registry."""
    return {**os.environ, "AMQP_URI": config["AMQP_URI"], "WEB_SERVER_ADDRESS": web_address,
            "REGISTRY_DB_URL": config["REGISTRY_DB_URL"],
            "EKRAF_CLIENT_FILE": admin_client_file()}


def test_the_demo_walks_through_the_platform(four_services, base_config):
    web_address = four_services.http_base.removeprefix("http://")
    result = run_demo(demo_env(base_config, web_address), timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert out.rstrip().endswith("demo: OK")
    assert "17 creative-economy subsectors" in out
    assert "the seat goes to Yohanes Lawing (first on the waitlist)" in out
    assert "checks in (attended)" in out
    assert "Belum Kompeten" in out and out.count("Kompeten       CRT-") == 2
    assert "valid=True" in out and "checks out offline against the JWKS" in out
    assert "Keanggotaan Anda aktif: EKRAF-" in out  # the first member's inbox, in Bahasa
    assert "received 33 messages of 11 types" in out
    # Each person calls with only their job's roles.
    assert "role assessor, bound to Hendra Wijaya" in out
    assert "inbox: NotFound, as for no one at all" in out
    assert "who issued CRT-" in out and ": demo-assessor-tablet-" in out
    assert "revoking it is Forbidden for an auditor" in out


def test_the_demo_fails_when_the_services_do_not_answer(vhost_config):
    """An empty vhost: nobody answers there. The demo says so and exits non-zero."""
    result = run_demo(demo_env(vhost_config, "127.0.0.1:9"), timeout=60, wait=3)
    assert result.returncode != 0
    assert "the services did not answer within 3" in result.stdout + result.stderr
