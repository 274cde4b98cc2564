import pytest

from tests.certification.helpers import make_assessor, make_scheme, make_session


@pytest.fixture(scope="session")
def crpc(rpc, certification_service):
    """The RPC client, with certification (and members) running."""
    return rpc


@pytest.fixture
def scheme(crpc):
    return make_scheme(crpc)


@pytest.fixture
def assessor(crpc, scheme):
    return make_assessor(crpc, [scheme["code"]])


@pytest.fixture
def assessment(crpc, scheme, assessor):
    return make_session(crpc, scheme, [assessor])
