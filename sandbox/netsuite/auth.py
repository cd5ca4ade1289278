"""NetSuite's OAuth 2.0 client credentials (M2M) flow as the emulator checks it: certificates mapped to an
integration's client id, and the JWT client assertion posted to the token endpoint, verified against them.

What NetSuite documents and the emulator refuses as `invalid_grant` (400): an unknown `kid` (certificate id), `typ`
other than JWT, `alg` other than PS256/384/512 or ES256/384/512, a signature the certificate's public key does not
verify, `iss` other than the client id the certificate is mapped to, `aud` other than the token endpoint, a `scope`
without `rest_webservices`, missing or non-integer `iat`/`exp`, an expired assertion, or `exp` more than 60 minutes
after `iat`. A grant without `client_assertion_type` = jwt-bearer and a `client_assertion` is `invalid_request`.
"""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ("PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
MAX_ASSERTION_SECONDS = 3600
CLOCK_SKEW_SECONDS = 300  # an iat this far in the future is still taken (clocks differ)


class AssertionRefused(Exception):
    """The OAuth error the token endpoint answers: `error` (invalid_request / invalid_grant) and why."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass(frozen=True)
class Certificate:
    certificate_id: str
    client_id: str
    pem: str
    public_key: Any


def certificate_id(pem: str) -> str:
    """The id NetSuite's M2M setup gives an uploaded certificate: here derived from the certificate itself (its
    SHA-256, base64url), so registering the same certificate again gives the same id."""
    der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(Encoding.DER)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")[:43]


def load_certificate(client_id: str, pem: str) -> Certificate:
    """A certificate mapped to `client_id`; ValueError when `pem` is not a PEM X.509 certificate."""
    certificate = x509.load_pem_x509_certificate(pem.encode())
    return Certificate(certificate_id(pem), client_id, pem, certificate.public_key())


def verify_assertion(form: dict[str, str], certificates: dict[str, Certificate], token_url: str) -> Certificate:
    """The certificate a valid client credentials grant's assertion is signed with; AssertionRefused otherwise."""
    if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
        raise AssertionRefused("invalid_request", f"client_assertion_type {ASSERTION_TYPE} and client_assertion needed")
    assertion = form["client_assertion"]
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.InvalidTokenError as exc:
        raise AssertionRefused("invalid_grant", f"client_assertion is not a JWT: {exc}") from None
    if header.get("typ") != "JWT" or header.get("alg") not in ALGORITHMS:
        raise AssertionRefused("invalid_grant", "JWT header needs typ JWT and alg PS256/384/512 or ES256/384/512")
    certificate = certificates.get(str(header.get("kid")))
    if certificate is None:
        raise AssertionRefused("invalid_grant", "kid names no certificate of the OAuth 2.0 Client Credentials Setup")
    try:
        claims = jwt.decode(
            assertion,
            certificate.public_key,
            algorithms=[header["alg"]],
            audience=token_url,
            issuer=certificate.client_id,
            leeway=CLOCK_SKEW_SECONDS,
            options={"require": ["iss", "aud", "exp", "iat", "scope"]},
        )
    except jwt.InvalidTokenError as exc:
        raise AssertionRefused("invalid_grant", f"client_assertion refused: {exc}") from None
    scope = claims["scope"]
    scopes = scope.split(",") if isinstance(scope, str) else scope if isinstance(scope, list) else []
    if "rest_webservices" not in [str(s).strip() for s in scopes]:
        raise AssertionRefused("invalid_grant", "scope does not include rest_webservices")
    issued, expires = claims["iat"], claims["exp"]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (issued, expires)):
        raise AssertionRefused("invalid_grant", "iat and exp must be whole seconds since 1970")
    if expires - issued > MAX_ASSERTION_SECONDS or issued > time.time() + CLOCK_SKEW_SECONDS:
        raise AssertionRefused("invalid_grant", "exp must be at most 60 minutes after iat, iat not in the future")
    return certificate
