"""Service-to-service RPC with a timeout, against the real broker."""
import time

import pytest
from nameko.containers import ServiceContainer
from nameko.standalone.rpc import ClusterRpcProxy

from shared.errors import InternalError, NotFound
from tests.foundation.ledger_service import CallerService, SleepyService
from tests.support.identities import admin_context


@pytest.fixture
def caller_and_sleepy(base_config):
    config = {**base_config, "RPC_TIMEOUT_SECONDS": 0.5}
    containers = [ServiceContainer(cls, config) for cls in (SleepyService, CallerService)]
    for container in containers:
        container.start()
    yield
    for container in containers:
        container.kill()  # the sleepy worker is still napping; don't wait for it


def test_a_hanging_callee_times_out_with_a_clear_error(caller_and_sleepy, base_config):
    with ClusterRpcProxy(base_config, context_data=admin_context(), timeout=10) as rpc:
        assert rpc.caller_test.ask(0) == "rested"
        started = time.monotonic()
        with pytest.raises(InternalError) as caught:
            rpc.caller_test.ask(5)
        assert time.monotonic() - started < 2
        assert "sleepy_test.nap did not answer within 0.5s" in str(caught.value)


def test_the_callees_contract_errors_pass_through(caller_and_sleepy, base_config):
    with ClusterRpcProxy(base_config, context_data=admin_context(), timeout=10) as rpc:
        with pytest.raises(NotFound, match="nothing here"):
            rpc.caller_test.ask_missing()
