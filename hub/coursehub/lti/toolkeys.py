"""The tool's own RSA key (LTI 1.3) and the public JWKS the LMS reads it from.

NOTE: ltiauthenticator 1.6.3 has no tool key and no tool JWKS endpoint, yet LMSs ask for a
"public keyset URL" at registration and LTI Advantage (grades, rosters) needs a tool-signed
client assertion. The key is a PEM file generated once by the Makefile (openssl); the kid is
its RFC 7638 thumbprint, so it is stable across restarts and changes with the key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jupyterhub.handlers import BaseHandler
from jwt.algorithms import RSAAlgorithm
from tornado.web import HTTPError


def generate_private_key_pem(bits: int = 2048) -> bytes:
    """A fresh RSA key as unencrypted PKCS#8 PEM (tests, dev platform)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_key(path: str | Path) -> rsa.RSAPrivateKey:
    data = Path(path).read_bytes()
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path}: not an RSA private key")
    return key


def rfc7638_thumbprint(jwk: dict[str, Any]) -> str:
    """base64url(SHA-256) of the JWK's required members, as RFC 7638 section 3 defines."""
    required = {name: jwk[name] for name in ("e", "kty", "n")}
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True).encode("ascii")
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode("ascii")


def public_jwk(private_key: rsa.RSAPrivateKey) -> dict[str, Any]:
    jwk = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    jwk = {"kty": jwk["kty"], "n": jwk["n"], "e": jwk["e"]}
    return {**jwk, "alg": "RS256", "use": "sig", "kid": rfc7638_thumbprint(jwk)}


class SigningKey:
    """One RSA private key with its public JWKS and a kid-stamped RS256 signer."""

    def __init__(self, private_key: rsa.RSAPrivateKey):
        self.private_key = private_key
        self.jwk = public_jwk(private_key)
        self.kid: str = self.jwk["kid"]

    @classmethod
    def from_file(cls, path: str | Path) -> "SigningKey":
        return cls(load_private_key(path))

    @classmethod
    def from_pem(cls, pem: bytes) -> "SigningKey":
        key = serialization.load_pem_private_key(pem, password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return cls(key)

    @property
    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk]}

    def sign(self, claims: dict[str, Any], *, lifetime: int | None = None) -> str:
        """RS256 JWT with this key's kid; adds iat/exp/jti when ``lifetime`` is given."""
        payload = dict(claims)
        if lifetime is not None:
            now = int(time.time())
            payload.setdefault("iat", now)
            payload.setdefault("exp", now + lifetime)
            payload.setdefault("jti", uuid.uuid4().hex)
        return jwt.encode(payload, self.private_key, algorithm="RS256", headers={"kid": self.kid})


class KeySetHandler(BaseHandler):
    """Serves the public JWKS of ``authenticator.<key_attr>``; public and unauthenticated."""

    key_attr = "tool_key"

    def check_xsrf_cookie(self) -> None:
        return

    async def get(self) -> None:
        key: SigningKey | None = getattr(self.authenticator, self.key_attr, None)
        if key is None:
            raise HTTPError(404, "This key set is not enabled on this hub.")
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "public, max-age=300")
        self.finish(json.dumps(key.jwks))


class ToolJWKSHandler(KeySetHandler):
    """``GET /hub/lti13/jwks``: the tool's public key set, registered in the LMS."""

    key_attr = "tool_key"
