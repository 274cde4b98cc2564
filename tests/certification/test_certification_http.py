"""The public HTTP endpoints, and offline verification with an independent JOSE library."""
import base64
import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.certification.signing import InvalidCredential, Signer, qr_svg, verify
from tests.support.http import get


def test_verify_over_http_is_the_public_view(base, crpc, issued):
    member, certificate = issued
    status, headers, body = get(base, f"/certificates/{certificate['number']}")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    view = json.loads(body)
    assert view == crpc.certification.verify(certificate["number"])
    assert view["valid"] is True and view["holder_name"] == member["full_name"]
    for private in (member["email"], member["phone"], member["id"]):
        assert private.encode() not in body
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in headers["Content-Security-Policy"]


def test_unknown_and_malformed_numbers_are_json_errors(base):
    status, headers, body = get(base, "/certificates/CRT-2026-0000-0000-0000")
    assert status == 404 and json.loads(body)["error"] == "NotFound"
    status, _, body = get(base, "/certificates/not-a-number")
    assert status == 400 and "number" in json.loads(body)["fields"]
    status, _, body = get(base, "/certificates/" + "A" * 5000)
    assert status in (400, 414) and b"Traceback" not in body
    status, _, body = get(base, "/certificates/CRT-2026-0000-0000-0000/credential")
    assert status == 404 and json.loads(body)["error"] == "NotFound"
    status, _, body = get(base, "/certificates/CRT-2026-0000-0000-0000/qr.svg")
    assert status == 404 and json.loads(body)["error"] == "NotFound"


def test_unknown_paths_and_other_methods_are_json_errors(base, issued):
    status, headers, body = get(base, "/admin")
    assert status == 404 and headers["Content-Type"].startswith("application/json")
    assert json.loads(body)["error"] == "NotFound"
    status, headers, body = get(base, f"/certificates/{issued[1]['number']}", method="POST")
    assert status == 405 and json.loads(body)["error"] == "MethodNotAllowed"
    assert headers["X-Content-Type-Options"] == "nosniff"
    # werkzeug would redirect a doubled slash, in HTML: one spelling per path here.
    status, headers, body = get(base, "/certificates//credential")
    assert status == 404 and json.loads(body)["error"] == "NotFound"
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_the_credential_verifies_offline_with_only_the_jwks(base, issued):
    _, certificate = issued
    status, _, token = get(base, f"/certificates/{certificate['number']}/credential")
    assert status == 200
    token = token.decode()
    assert token == certificate["credential"]
    status, _, jwks_body = get(base, "/.well-known/jwks.json")
    jwks = json.loads(jwks_body)
    assert all(k["kty"] == "OKP" and k["crv"] == "Ed25519" and "d" not in k for k in jwks["keys"])

    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA"
    [published] = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    claims = jwt.decode(token, key=jwt.PyJWK(published).key, algorithms=["EdDSA"])
    assert claims["sub"] == certificate["number"]
    facts = claims["certificate"]
    assert facts["holder_name"] == certificate["holder_name"]
    assert facts["scheme_code"] == certificate["scheme_code"]
    assert facts["valid_until"] == certificate["valid_until"]
    assert "member_id" not in json.dumps(claims)


def test_a_forged_credential_is_rejected(base, issued):
    _, certificate = issued
    token = certificate["credential"]
    jwks = json.loads(get(base, "/.well-known/jwks.json")[2])
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["certificate"]["holder_name"] = "Someone Else"
    forged_payload = base64.urlsafe_b64encode(
        json.dumps(claims).encode()).decode().rstrip("=")
    forged = f"{header}.{forged_payload}.{signature}"
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == kid)).key
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, key=key, algorithms=["EdDSA"])
    # Signed by a key of the forger's own, claiming the service's kid:
    impostor = Signer(Ed25519PrivateKey.generate())
    impostor.kid = kid
    forged_elsewhere = impostor.sign(claims)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged_elsewhere, key=key, algorithms=["EdDSA"])
    with pytest.raises(InvalidCredential):
        verify(forged_elsewhere, jwks["keys"])
    # Unsigned ("alg": "none"):
    unsigned = jwt.encode(claims, key=None, algorithm="none")
    with pytest.raises(jwt.InvalidAlgorithmError):
        jwt.decode(unsigned, key=key, algorithms=["EdDSA"])
    with pytest.raises(InvalidCredential):
        verify(unsigned, jwks["keys"])


def test_qr_code_of_the_verify_url(base, issued):
    _, certificate = issued
    status, headers, body = get(base, f"/certificates/{certificate['number']}/qr.svg")
    assert status == 200 and headers["Content-Type"].startswith("image/svg+xml")
    assert body.lstrip().startswith(b"<svg") or b"<svg" in body[:200]
    verify_url = f"https://sertifikat.ekraf-kaltim.test/certificates/{certificate['number']}"
    assert body.decode() == qr_svg(verify_url)  # the QR code of exactly that URL


def test_each_client_is_rate_limited_with_a_json_429(certification_service):
    """From a client address of its own (127.0.0.2), so other tests keep their budget."""
    import http.client
    from urllib.parse import urlsplit

    address = urlsplit(certification_service.http_base)
    statuses = []
    for _ in range(70):  # the limit here is 60 a minute
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10,
                                                source_address=("127.0.0.2", 0))
        connection.request("GET", "/.well-known/jwks.json")
        response = connection.getresponse()
        body = response.read()
        statuses.append(response.status)
        connection.close()
    assert statuses[:60] == [200] * 60
    assert set(statuses[60:]) == {429}
    assert json.loads(body)["error"] == "TooManyRequests"
    assert int(response.headers["Retry-After"]) >= 1
    # Other clients are not affected.
    assert get(certification_service.http_base, "/.well-known/jwks.json")[0] == 200


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget(
        certification_service):
    """TRUSTED_PROXIES=127.0.0.9 here: requests through it count against the client in
    X-Forwarded-For; the same header from anyone else is ignored (it could be forged)."""
    import http.client
    from urllib.parse import urlsplit

    address = urlsplit(certification_service.http_base)

    def status(source, forwarded_for):
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10,
                                                source_address=(source, 0))
        connection.request("GET", "/.well-known/jwks.json",
                           headers={"X-Forwarded-For": forwarded_for})
        response = connection.getresponse()
        response.read()
        connection.close()
        return response.status

    statuses = [status("127.0.0.9", "1.2.3.4, 203.0.113.7") for _ in range(61)]
    assert statuses[:60] == [200] * 60 and statuses[60] == 429  # that client's budget
    assert status("127.0.0.9", "203.0.113.8") == 200  # another client, through the proxy
    # Not the proxy: the header counts for nothing, the connecting address is the client.
    assert status("127.0.0.10", "203.0.113.7") == 200
