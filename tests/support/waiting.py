"""Waiting for evidence: a test polls for what it expects instead of sleeping."""
import time

import eventlet


def wait_until(predicate, timeout=15.0, interval=0.05, message="condition"):
    """Poll ``predicate`` until it returns something truthy (returned); fail after
    ``timeout`` seconds naming ``message``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        eventlet.sleep(interval)
