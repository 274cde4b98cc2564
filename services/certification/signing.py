"""Certificate signing: Ed25519 keys, JWKs, compact JWS tokens and QR codes.

Pure functions only, no network and no database.

Keys. The service signs with one Ed25519 private key. In production it comes
from the PEM file named by ``CERT_SIGNING_KEY_FILE`` (PKCS8, unencrypted). When
that is unset (development, demos) the service creates its own key once, in
``var/certification-signing-key.pem`` (mode 0600), and keeps using it.

Rotation. A key is named by its ``kid``, the RFC 7638 thumbprint of its public
JWK, so the same key always has the same kid. The service records in its
database every public key it has ever signed with and publishes all of them at
``/.well-known/jwks.json``. To rotate, give the service a new key file and
restart it: new certificates carry the new kid, while certificates issued
earlier still name the old kid and still verify, because the old public key
stays published. A private key is never needed again once it is retired.
"""
import base64
import hashlib
import io
import json
import os
import re
import tempfile
from pathlib import Path

import segno
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

DEFAULT_KEY_FILENAME = "certification-signing-key.pem"
ALG = "EdDSA"
# Certificates are a few hundred bytes; anything far larger is not ours, and
# refusing it early keeps a public verify endpoint cheap.
MAX_TOKEN_LENGTH = 64 * 1024

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class InvalidCredential(Exception):
    """A token that is malformed, unsigned by a known key, or otherwise not ours."""


# --- keys ------------------------------------------------------------------

def load_or_create_private_key(key_file: str | None, var_dir: Path) -> Ed25519PrivateKey:
    """The signing key: from ``key_file`` if given, else ``var_dir``'s own key, created once.

    An empty ``key_file`` counts as unset (an empty environment variable).
    """
    if key_file:
        return _read_private_key(Path(key_file))
    path = Path(var_dir) / DEFAULT_KEY_FILENAME
    if not path.exists():
        _create_key_file(path)
    return _read_private_key(path)


def _read_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ValueError(f"signing key file {path}: cannot read it ({reason})") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # No detail from the parser: nothing derived from the key material is shown.
        raise ValueError(f"signing key file {path}: not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"signing key file {path}: not an Ed25519 key")
    return key


def _create_key_file(path: Path) -> None:
    """Write a new key to ``path`` unless another process got there first.

    The PEM goes to a 0600 temporary file in the same directory, then is
    hard-linked into place: the link either appears complete or fails because
    the file exists, so a racing process never reads half a key and the loser
    simply uses the winner's.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:  # mkstemp creates the file with mode 0600
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)


# --- JWKs ------------------------------------------------------------------

def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    """Strict base64url without padding: only the canonical form of some bytes is accepted."""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64url(data) != text:  # non-zero trailing bits: another spelling of the same bytes
        raise ValueError("not canonical base64url")
    return data


def jwk_thumbprint(x: str) -> str:
    """RFC 7638 thumbprint of an Ed25519 public JWK whose ``x`` is given."""
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x},
                           separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def public_jwk(public_key: Ed25519PublicKey) -> dict:
    """The public key as a JWK (RFC 8037), ``kid`` being its RFC 7638 thumbprint."""
    x = _b64url(public_key.public_bytes(serialization.Encoding.Raw,
                                        serialization.PublicFormat.Raw))
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": jwk_thumbprint(x),
            "use": "sig", "alg": ALG}


# --- tokens ----------------------------------------------------------------

class Signer:
    """Signs claims as compact JWS (EdDSA) tokens naming the key by ``kid``."""

    def __init__(self, private_key: Ed25519PrivateKey):
        self._private_key = private_key
        self.public_jwk = public_jwk(private_key.public_key())
        self.kid = self.public_jwk["kid"]

    def sign(self, claims: dict) -> str:
        header = {"alg": ALG, "typ": "JWT", "kid": self.kid}
        signing_input = _b64url(_json_bytes(header)) + "." + _b64url(_json_bytes(claims))
        signature = self._private_key.sign(signing_input.encode("ascii"))
        return signing_input + "." + _b64url(signature)


def verify(token: str, jwks: list[dict]) -> dict:
    """The claims of ``token`` if one of ``jwks`` signed it; else ``InvalidCredential``.

    Only checks the signature: expiry, revocation and the like are the caller's.
    """
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidCredential("malformed token")
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidCredential("malformed token")
    try:
        header = _json_object(_b64url_decode(parts[0]))
        claims = _json_object(_b64url_decode(parts[1]))
        signature = _b64url_decode(parts[2])
    except (ValueError, RecursionError):  # bad base64, bad UTF-8, bad JSON, deep nesting
        raise InvalidCredential("malformed token") from None
    if header.get("alg") != ALG:
        raise InvalidCredential("unsupported alg")
    if "crit" in header:  # RFC 7515 4.1.11: extensions we do not understand
        raise InvalidCredential("unsupported critical header")
    kid = header.get("kid")
    jwk = next((k for k in jwks if isinstance(k, dict) and k.get("kid") == kid), None)
    if not isinstance(kid, str) or jwk is None:
        raise InvalidCredential("unknown kid")
    public_key = _ed25519_public_key(jwk)
    try:
        public_key.verify(signature, (parts[0] + "." + parts[1]).encode("ascii"))
    except InvalidSignature:
        raise InvalidCredential("bad signature") from None
    return claims


def _ed25519_public_key(jwk: dict) -> Ed25519PublicKey:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or jwk.get("alg", ALG) != ALG:
        raise InvalidCredential("unusable key")
    try:
        return Ed25519PublicKey.from_public_bytes(_b64url_decode(jwk.get("x")))
    except (TypeError, ValueError):
        raise InvalidCredential("unusable key") from None


def _json_bytes(value) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def _json_object(data: bytes) -> dict:
    """Strict JSON object: duplicate names and NaN/Infinity are refused, not guessed at."""
    def no_duplicates(pairs):
        obj = dict(pairs)
        if len(obj) != len(pairs):
            raise ValueError("duplicate name")
        return obj

    def no_constants(name):
        raise ValueError(f"{name} is not JSON")

    value = json.loads(data.decode("utf-8"), object_pairs_hook=no_duplicates,
                       parse_constant=no_constants)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


# --- QR codes --------------------------------------------------------------

def qr_svg(url: str) -> str:
    """The url as a standalone SVG QR code (error correction at least M, 4-module quiet zone)."""
    buffer = io.BytesIO()
    segno.make_qr(url, error="m").save(buffer, kind="svg", xmldecl=False, scale=4, border=4)
    return buffer.getvalue().decode("utf-8")
