"""Fixtures of the fault tests."""
import subprocess
import uuid
from urllib.parse import quote, urlsplit, urlunsplit

import pytest


@pytest.fixture
def vhost_config(infrastructure, base_config, request):
    """base_config pointed at a RabbitMQ vhost of the test's own: services it starts
    there share no queue with the session's services (which would otherwise take
    half of its calls and messages)."""
    if request.config.getoption("--docker"):
        pytest.skip("needs rabbitmqctl to make a vhost of its own")
    base = urlsplit(infrastructure[0])
    vhost = f"ekraf-fault-{uuid.uuid4().hex[:8]}"
    subprocess.run(["rabbitmqctl", "add_vhost", vhost], check=True, capture_output=True)
    subprocess.run(["rabbitmqctl", "set_permissions", "-p", vhost, base.username or "guest",
                    ".*", ".*", ".*"], check=True, capture_output=True)
    yield {**base_config,
           "AMQP_URI": urlunsplit(base._replace(path="/" + quote(vhost, safe="")))}
    subprocess.run(["rabbitmqctl", "delete_vhost", vhost], capture_output=True)
