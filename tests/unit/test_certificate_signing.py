"""Certificate signing, checked against PyJWT as an independent implementation."""
import base64
import hashlib
import json
import os
import re
import stat
import threading

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.certification import signing
from services.certification.signing import (
    InvalidCredential,
    Signer,
    load_or_create_private_key,
    qr_svg,
    verify,
)

CLAIMS = {"iss": "https://example.org", "sub": "CERT-2025-0001", "iat": 1735689600,
          "name": "Koperasi Mahakam Jaya — Samarinda", "grade": "A"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value) -> str:
    return b64url(json.dumps(value).encode())


def pyjwt_decode(token, jwk):
    return jwt.decode(token, key=jwt.PyJWK(jwk).key, algorithms=["EdDSA"],
                      options={"verify_exp": False, "verify_aud": False})


@pytest.fixture(scope="module")
def signer():
    return Signer(Ed25519PrivateKey.generate())


@pytest.fixture(scope="module")
def other():
    return Signer(Ed25519PrivateKey.generate())


# --- tokens ----------------------------------------------------------------

def test_token_verifies_with_pyjwt_and_with_verify(signer):
    token = signer.sign(CLAIMS)
    assert pyjwt_decode(token, signer.public_jwk) == CLAIMS
    assert verify(token, [signer.public_jwk]) == CLAIMS


def test_header_names_the_key_by_thumbprint(signer):
    header = jwt.get_unverified_header(signer.sign(CLAIMS))
    assert header == {"alg": "EdDSA", "typ": "JWT", "kid": signer.kid}
    jwk = signer.public_jwk
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": jwk["x"]},
                           separators=(",", ":"), sort_keys=True)
    assert signer.kid == jwk["kid"] == b64url(hashlib.sha256(canonical.encode()).digest())
    assert set(jwk) == {"kty", "crv", "x", "kid", "use", "alg"}
    assert (jwk["kty"], jwk["crv"], jwk["use"], jwk["alg"]) == ("OKP", "Ed25519", "sig", "EdDSA")


def test_payload_is_compact_utf8_json_of_exactly_the_claims(signer):
    payload = signer.sign(CLAIMS).split(".")[1]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert raw == json.dumps(CLAIMS, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def test_rfc8037_key_gives_the_rfc_x_and_thumbprint():
    # RFC 8037 A.1 (private key), A.2 (public key), A.3 (RFC 7638 thumbprint).
    d = base64.urlsafe_b64decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=")
    signer = Signer(Ed25519PrivateKey.from_private_bytes(d))
    assert signer.public_jwk["x"] == "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    assert signer.kid == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_changed_payload_is_rejected(signer):
    header, _, sig = signer.sign(CLAIMS).split(".")
    forged = ".".join([header, b64url_json({**CLAIMS, "grade": "A+"}), sig])
    with pytest.raises(jwt.InvalidSignatureError):
        pyjwt_decode(forged, signer.public_jwk)
    with pytest.raises(InvalidCredential, match="signature"):
        verify(forged, [signer.public_jwk])


def test_other_key_claiming_our_kid_is_rejected(signer, other):
    header = {"alg": "EdDSA", "typ": "JWT", "kid": signer.kid}
    forged = jwt.encode(CLAIMS, other._private_key, algorithm="EdDSA", headers=header)
    assert jwt.get_unverified_header(forged)["kid"] == signer.kid
    with pytest.raises(jwt.InvalidSignatureError):
        pyjwt_decode(forged, signer.public_jwk)
    with pytest.raises(InvalidCredential, match="signature"):
        verify(forged, [signer.public_jwk])


def test_unknown_kid_is_rejected(signer, other):
    with pytest.raises(InvalidCredential, match="kid"):
        verify(other.sign(CLAIMS), [signer.public_jwk])
    with pytest.raises(InvalidCredential, match="kid"):
        verify(signer.sign(CLAIMS), [])


def test_token_without_kid_is_rejected():
    # RFC 8037 A.4: a valid EdDSA JWS, but naming no key.
    token = ("eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7"
             "-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg")
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
           "kid": "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"}
    with pytest.raises(InvalidCredential):
        verify(token, [jwk])


def _with_header(signer, header, claims=CLAIMS):
    """A token with a chosen header, correctly signed by ``signer``'s key."""
    signing_input = b64url_json(header) + "." + b64url_json(claims)
    return signing_input + "." + b64url(signer._private_key.sign(signing_input.encode()))


@pytest.mark.parametrize("header, reason", [
    ({"alg": "none", "kid": "K"}, "alg"),
    ({"alg": "HS256", "kid": "K"}, "alg"),
    ({"kid": "K"}, "alg"),
    ({"alg": "EdDSA", "kid": "K", "crit": ["exp"], "exp": 1}, "critical"),
    ({"alg": "EdDSA", "kid": ["K"]}, "kid"),
])
def test_bad_headers_are_rejected_even_when_signed(signer, header, reason):
    header = {k: (signer.kid if v == "K" else v) for k, v in header.items()}
    with pytest.raises(InvalidCredential, match=reason):
        verify(_with_header(signer, header), [signer.public_jwk])


def _garbage(signer):
    header, payload, sig = signer.sign(CLAIMS).split(".")
    deep = b64url(b"[" * 40000)  # deeper than Python's recursion limit
    return [
        "", ".", "..", "...", "a", "a.b", "a.b.c", "é" * 10000, "é.é.é", "\x00.\x00.\x00",
        "!!!.@@@.###", "a" * (signing.MAX_TOKEN_LENGTH + 1), "a." * 100000,
        ".".join([header, payload]),
        ".".join([header, payload, sig, sig]),
        ".".join([header + "=", payload, sig]),          # padding
        ".".join([header, payload, sig + "="]),
        ".".join([header, payload, sig[:-1]]),            # truncated signature
        ".".join([header, payload, sig[:-1] + "h"]),      # non-canonical last character
        ".".join([header, payload, sig + "A"]),           # a 65-byte signature
        ".".join([header, payload, ""]),
        ".".join([header.replace("e", "+"), payload, sig]),  # standard, not url, alphabet
        ".".join([b64url(b"not json"), payload, sig]),
        ".".join([b64url(b"\xff\xfe"), payload, sig]),    # not UTF-8
        ".".join([b64url_json(["EdDSA"]), payload, sig]),
        ".".join([b64url(b'{"alg":"HS256","alg":"EdDSA","kid":"x"}'), payload, sig]),
        ".".join([header, deep, sig]),
        ".".join([header, b64url(b'{"n":' + b"9" * 5000 + b"}"), sig]),  # int digit limit
        ".".join([header, b64url(b'{"n":NaN}'), sig]),
        ".".join([header, b64url_json("a string"), sig]),
        ".".join([header, "", sig]),
    ]


def test_garbage_raises_invalid_credential_only(signer):
    for token in _garbage(signer):
        try:
            verify(token, [signer.public_jwk])
        except InvalidCredential:
            pass
        else:
            pytest.fail(f"accepted {token[:60]!r}")


@pytest.mark.parametrize("token", [None, b"a.b.c", 42])
def test_non_strings_raise_invalid_credential(signer, token):
    with pytest.raises(InvalidCredential):
        verify(token, [signer.public_jwk])


@pytest.mark.parametrize("jwk_change", [
    {"kty": "EC"}, {"crv": "Ed448"}, {"alg": "ES256"}, {"x": "short"}, {"x": None}, {"x": "é"},
])
def test_unusable_published_key_raises_invalid_credential(signer, jwk_change):
    with pytest.raises(InvalidCredential):
        verify(signer.sign(CLAIMS), [{**signer.public_jwk, **jwk_change}])


def test_rotation_keeps_old_tokens_valid(signer, other):
    third = Signer(Ed25519PrivateKey.generate())
    jwks = [signer.public_jwk, other.public_jwk]
    old, new = signer.sign({"sub": "old"}), other.sign({"sub": "new"})
    assert verify(old, jwks) == {"sub": "old"}
    assert verify(new, jwks) == {"sub": "new"}
    with pytest.raises(InvalidCredential):
        verify(third.sign({"sub": "stray"}), jwks)


# --- key files -------------------------------------------------------------

def _pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _raw(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def test_key_is_created_once_with_mode_0600(tmp_path):
    var = tmp_path / "var"
    first = load_or_create_private_key(None, var)
    path = var / "certification-signing-key.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(var) == [path.name]  # no temporary file left behind
    pem = path.read_bytes()
    second = load_or_create_private_key(None, var)
    assert _raw(second) == _raw(first)
    assert path.read_bytes() == pem
    assert _raw(load_or_create_private_key("", var)) == _raw(first)  # empty means unset


def test_concurrent_creators_end_with_one_key(tmp_path):
    # tests/conftest.py monkey-patches eventlet, so these threads are green and
    # barely overlap; the next test forces the lost race deterministically.
    barrier, keys = threading.Barrier(8), []

    def create():
        barrier.wait()
        keys.append(_raw(load_or_create_private_key(None, tmp_path)))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(keys) == 8 and len(set(keys)) == 1
    assert os.listdir(tmp_path) == ["certification-signing-key.pem"]


def test_creator_losing_the_race_uses_the_winners_key(tmp_path, monkeypatch):
    winner = Ed25519PrivateKey.generate()
    real_link = os.link

    def link_after_the_winner(src, dst):
        # Another process creates the key between our existence check and our link.
        with open(dst, "xb") as f:
            f.write(_pem(winner))
        real_link(src, dst)

    monkeypatch.setattr(signing.os, "link", link_after_the_winner)
    assert _raw(load_or_create_private_key(None, tmp_path)) == _raw(winner)
    assert os.listdir(tmp_path) == ["certification-signing-key.pem"]


def test_configured_key_file_is_used(tmp_path):
    key = Ed25519PrivateKey.generate()
    path = tmp_path / "signing.pem"
    path.write_bytes(_pem(key))
    assert _raw(load_or_create_private_key(str(path), tmp_path / "var")) == _raw(key)
    assert not (tmp_path / "var").exists()


@pytest.mark.parametrize("content", [
    None,                                              # missing
    b"",
    b"not a key at all",
    _pem(ec.generate_private_key(ec.SECP256R1())),     # a key, but not Ed25519
    Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret")),
    Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
], ids=["missing", "empty", "not-a-key", "ec-key", "encrypted", "public-key"])
def test_bad_configured_key_file_names_the_file(tmp_path, content):
    path = tmp_path / "signing.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ValueError, match="signing.pem") as caught:
        load_or_create_private_key(str(path), tmp_path)
    assert "BEGIN" not in str(caught.value)


def test_configured_key_file_that_is_a_directory_names_it(tmp_path):
    with pytest.raises(ValueError, match=re.escape(str(tmp_path))):
        load_or_create_private_key(str(tmp_path), tmp_path)


def test_corrupt_created_key_is_not_replaced(tmp_path):
    path = tmp_path / "certification-signing-key.pem"
    path.write_bytes(b"truncated")
    with pytest.raises(ValueError, match="certification-signing-key.pem"):
        load_or_create_private_key(None, tmp_path)
    assert path.read_bytes() == b"truncated"


# --- QR codes --------------------------------------------------------------

def test_qr_svg():
    url = "https://example.org/certificates/CERT-2025-0001"
    svg = qr_svg(url)
    assert svg.lstrip().startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert 'xmlns="http://www.w3.org/2000/svg"' in svg
    assert qr_svg(url) == svg
    assert qr_svg(url + "2") != svg
