"""The certification records the tests of bound clients and refusals need."""
import pytest

from tests.support.factories import make_assessor, make_scheme, make_session


@pytest.fixture(scope="module")
def certification_setup(rpc, certification_service):
    """``(scheme, assessor, session)``: a scheme, an assessor qualified for it, and a
    session of it that assessor is assigned to, with room for every test of a module."""
    scheme = make_scheme(rpc)
    assessor = make_assessor(rpc, [scheme["code"]])
    session = make_session(rpc, scheme, [assessor], capacity=200)
    return scheme, assessor, session
