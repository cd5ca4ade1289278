"""The key pair c2c signs NetSuite's OAuth 2.0 client assertions with, made for a local estate: an EC P-256 private
key (ES256) and a self-signed certificate for it, which the NetSuite sandbox maps to the integration's client id at
start (`python -m sandbox --netsuite-certificate`), as an admin uploads one in NetSuite's M2M setup."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from sandbox.netsuite.auth import certificate_id


@dataclass(frozen=True)
class NetSuiteKey:
    key_file: Path
    certificate_file: Path
    certificate_id: str

    def sandbox_args(self, client_id: str) -> list[str]:
        """`python -m sandbox` options that map the certificate to `client_id`."""
        return ["--netsuite-certificate", str(self.certificate_file), "--netsuite-client-id", client_id]

    def env(self) -> dict[str, str]:
        """The worker's and API's settings that sign with the key."""
        return {"C2C_NETSUITE_PRIVATE_KEY_FILE": str(self.key_file), "C2C_NETSUITE_CERTIFICATE_ID": self.certificate_id}


def key_pair() -> tuple[str, str]:
    """(private key PEM, self-signed certificate PEM), a new EC P-256 pair valid for two years."""
    return self_signed(ec.generate_private_key(ec.SECP256R1()), "c2c NetSuite integration", days=730)


def self_signed(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    common_name: str,
    *,
    days: int,
    extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
) -> tuple[str, str]:
    """(private key PEM, certificate PEM) of `key` with a self-signed certificate for `common_name`, valid `days`
    from five minutes ago, with `extensions` (each with its critical flag)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical)
    certificate = builder.sign(key, hashes.SHA256())
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return private, certificate.public_bytes(serialization.Encoding.PEM).decode()


def netsuite_key(var: Path) -> NetSuiteKey:
    """The estate's key pair in `var` (`netsuite-key.pem`, `netsuite-cert.pem`), made on first use."""
    key_file, certificate_file = var / "netsuite-key.pem", var / "netsuite-cert.pem"
    if not (key_file.is_file() and certificate_file.is_file()):
        private, certificate = key_pair()
        var.mkdir(parents=True, exist_ok=True)
        key_file.write_text(private)
        key_file.chmod(0o600)
        certificate_file.write_text(certificate)
    return NetSuiteKey(key_file, certificate_file, certificate_id(certificate_file.read_text()))
