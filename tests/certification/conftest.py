import pytest

from tests.support.factories import (
    issue_certificate,
    make_assessor,
    make_scheme,
    make_session,
)


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


@pytest.fixture
def issued(crpc, scheme, assessor, assessment):
    """(member, certificate) of a member just certified."""
    return issue_certificate(crpc, scheme, assessor, assessment)


@pytest.fixture
def base(certification_service):
    """The certification service's public HTTP address."""
    return certification_service.http_base
