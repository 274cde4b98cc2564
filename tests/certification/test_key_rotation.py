"""Rotating the signing key: new certificates use the new key, old ones still verify.

Restarts the test run's certification service with a new CERT_SIGNING_KEY_FILE, as
an operator would; it keeps running with that key for the tests after this one.
"""
import json

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.certification.signing import Signer
from tests.support.http import get
from tests.support.factories import all_competent, make_member, make_session
from tests.support.services import wait_for_rpc


def issue(crpc, scheme, assessor, assessment):
    member = make_member(crpc)
    application = crpc.certification.apply(
        {"member_id": member["id"], "scheme_code": scheme["code"], "session_id": assessment["id"]})
    return crpc.certification.record_result(
        application["id"], {"assessor_id": assessor["id"], "units": all_competent(scheme)}
    )["certificate"]


def verify_offline(token, jwks):
    kid = jwt.get_unverified_header(token)["kid"]
    [key] = [k for k in jwks["keys"] if k["kid"] == kid]
    return jwt.decode(token, key=jwt.PyJWK(key).key, algorithms=["EdDSA"])


def test_rotation_keeps_old_certificates_verifiable(
        crpc, base_config, certification_service, scheme, assessor, tmp_path):
    assessment = make_session(crpc, scheme, [assessor])
    before = issue(crpc, scheme, assessor, assessment)
    old_kid = jwt.get_unverified_header(before["credential"])["kid"]

    new_key = Ed25519PrivateKey.generate()
    key_file = tmp_path / "signing-key-2027.pem"
    key_file.write_bytes(new_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    key_file.chmod(0o600)
    certification_service.restart(CERT_SIGNING_KEY_FILE=str(key_file))
    wait_for_rpc(base_config, "certification", "list_schemes")

    after = issue(crpc, scheme, assessor, assessment)
    new_kid = jwt.get_unverified_header(after["credential"])["kid"]
    assert new_kid == Signer(new_key).kid != old_kid

    jwks = json.loads(get(certification_service.http_base, "/.well-known/jwks.json")[2])
    assert {old_kid, new_kid} <= {key["kid"] for key in jwks["keys"]}
    assert verify_offline(before["credential"], jwks)["sub"] == before["number"]
    assert verify_offline(after["credential"], jwks)["sub"] == after["number"]
