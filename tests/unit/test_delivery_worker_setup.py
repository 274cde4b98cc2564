"""The delivery worker reads its settings at start and refuses unsafe or wrong ones
there, before any send (no I/O: a container stand-in with a config dict)."""
import re
import types

import pytest

from services.notifications.dependencies import DeliveryWorker


def test_retry_delays_that_shrink_stop_the_service_at_start():
    worker = DeliveryWorker()
    worker.container = types.SimpleNamespace(config={"NOTIFY_RETRY_DELAYS_SECONDS": "5,30,1"})
    with pytest.raises(ValueError, match="NOTIFY_RETRY_DELAYS_SECONDS must be positive"):
        worker.setup()


@pytest.mark.parametrize("settings, message", [
    ({"SMTP_USERNAME": "relay-user", "SMTP_PASSWORD": "s3cret"},
     "SMTP_USERNAME is set but SMTP_SECURITY is none: refusing to send the SMTP password "
     "over an unencrypted connection"),
    ({"SMTP_USERNAME": "relay-user", "SMTP_PASSWORD": "s3cret", "SMTP_SECURITY": "NONE"},
     "SMTP_SECURITY is none: refusing"),
    ({"SMTP_SECURITY": "ssl"}, "SMTP_SECURITY must be one of none, starttls, tls"),
    ({"SMTP_SECURITY": "tls", "SMTP_USERNAME": "relay-user"}, "SMTP_PASSWORD is empty"),
    ({"SMTP_SECURITY": "tls", "SMTP_PASSWORD": "s3cret"}, "SMTP_USERNAME is not"),
    ({"SMTP_SECURITY": "tls", "SMTP_CA_FILE": "/nowhere/ca.pem"},
     "SMTP_CA_FILE '/nowhere/ca.pem' is not a readable PEM CA bundle"),
])
def test_unsafe_or_wrong_smtp_settings_stop_the_worker_at_start(settings, message):
    worker = DeliveryWorker()
    worker.container = types.SimpleNamespace(config=settings)
    with pytest.raises(ValueError, match=re.escape(message)) as refused:
        worker.setup()
    assert "s3cret" not in str(refused.value)
