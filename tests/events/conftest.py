import pytest


@pytest.fixture(scope="session")
def erpc(rpc, events_service):
    """The RPC client, with events (and members) running."""
    return rpc
