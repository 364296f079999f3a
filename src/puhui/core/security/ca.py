"""The platform's certificate authority for institutions' client certificates (mTLS).

ECDSA P-256 with SHA-256 throughout, not SM2: TLS stacks Python can serve with (OpenSSL
through :mod:`ssl`) do not negotiate SM2 client certificates (decision 0018).

Files, under ``DATA_DIR/keys/ca`` (the folder and the key files are owner-only):
- ``ca.crt``: the self-signed CA certificate (public; give it to institutions and to the
  TLS terminator as the client CA),
- ``ca.key``: the CA private key as encrypted PKCS#8 (PEM), never in clear on disk,
- ``ca.key.pass``: the random passphrase of ``ca.key``, itself SM4-GCM-encrypted under the
  keyring's active data key (:mod:`.fields`), so it follows key rotation and a master-key
  rewrap like every encrypted field, and is useless without the master key.

Certificates the CA issues carry the subject the platform chooses (an institution's code
and name), never the one in a CSR; they are end-entity certificates for client
authentication only.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from puhui.core.security import fields

CURVE = ec.SECP256R1
CA_DAYS = 3650
MAX_CLIENT_DAYS = 825
PASSPHRASE_PURPOSE = "ca.key"  # noqa: S105 - a purpose label, not a secret
# how much a certificate's start is back-dated, for clocks a little behind ours
BACKDATE = timedelta(minutes=5)


class CaError(ValueError):
    """The CA is missing or unusable, or an input (a CSR, a PEM) is refused; the message
    says which and why."""


@dataclass(frozen=True)
class CaPaths:
    directory: Path

    @property
    def cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def passphrase(self) -> Path:
        return self.directory / "ca.key.pass"

    def exists(self) -> bool:
        return self.cert.exists() or self.key.exists()


@dataclass(frozen=True)
class Authority:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


def fingerprint(cert: x509.Certificate) -> str:
    """Hex SHA-256 of the certificate's DER encoding."""
    return cert.fingerprint(hashes.SHA256()).hex()


def load_certificate(pem: str | bytes) -> x509.Certificate:
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise CaError(f"not an X.509 certificate: {exc}") from exc


def certificate_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def serial_hex(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "x")


def _write_private(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only, refusing to replace an existing one."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def _new_serial() -> int:
    # 159 random bits: positive, at most 20 octets (RFC 5280 4.1.2.2), unguessable
    return secrets.randbits(159) | (1 << 158)


def init(paths: CaPaths, *, common_name: str, days: int = CA_DAYS) -> Authority:
    """Create the CA key and self-signed certificate; refuses to overwrite an existing CA."""
    if paths.exists():
        raise CaError(f"a CA already exists in {paths.directory}")
    paths.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = ec.generate_private_key(CURVE())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Puhui platform"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    now = datetime.now(UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(_new_serial())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    passphrase = base64.b64encode(secrets.token_bytes(32))
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    wrapped = fields.encrypt(PASSPHRASE_PURPOSE, passphrase.decode("ascii"))
    try:
        _write_private(paths.passphrase, wrapped.encode("ascii"))
        _write_private(paths.key, encrypted)
        paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    except BaseException:
        for path in (paths.passphrase, paths.key, paths.cert):
            with contextlib.suppress(OSError):
                path.unlink()
        raise
    return Authority(key=key, cert=cert)


def load(paths: CaPaths) -> Authority:
    if not paths.cert.exists() or not paths.key.exists() or not paths.passphrase.exists():
        raise CaError(f"no CA in {paths.directory}: run `puhui ca init` first")
    try:
        passphrase = fields.decrypt(PASSPHRASE_PURPOSE, paths.passphrase.read_text("ascii"))
        key = serialization.load_pem_private_key(
            paths.key.read_bytes(), password=passphrase.encode("ascii")
        )
    except (fields.FieldCryptoError, ValueError, TypeError) as exc:
        raise CaError(f"{paths.key}: the CA key does not open ({exc})") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CaError(f"{paths.key}: not an EC key")
    cert = load_certificate(paths.cert.read_bytes())
    return Authority(key=key, cert=cert)


def check_csr(data: bytes) -> x509.CertificateSigningRequest:
    """A CSR that is well formed, self-signed correctly and carries an ECDSA P-256 key."""
    try:
        csr = (
            x509.load_pem_x509_csr(data) if b"-----BEGIN" in data else x509.load_der_x509_csr(data)
        )
    except ValueError as exc:
        raise CaError(f"not a certificate signing request (PEM or DER): {exc}") from exc
    try:
        valid = csr.is_signature_valid
    except UnsupportedAlgorithm as exc:
        raise CaError(f"the CSR is signed with an unsupported algorithm: {exc}") from exc
    if not valid:
        raise CaError("the CSR's signature is invalid (it was altered, or not signed by its key)")
    try:
        public = csr.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise CaError(f"the CSR's public key cannot be read: {exc}") from exc
    if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(public.curve, CURVE):
        kind = (
            f"EC {public.curve.name}"
            if isinstance(public, ec.EllipticCurvePublicKey)
            else type(public).__name__.lstrip("_")
        )
        raise CaError(f"the CSR's key is {kind}; the platform CA signs ECDSA P-256 keys only")
    return csr


def new_client_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(CURVE())


def private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def client_subject(*, code: str, name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, name[:64]),
            x509.NameAttribute(NameOID.COMMON_NAME, code[:64]),
        ]
    )


def issue(
    authority: Authority,
    public_key: ec.EllipticCurvePublicKey,
    *,
    subject: x509.Name,
    days: int,
    now: datetime | None = None,
) -> x509.Certificate:
    """A client-authentication certificate for ``public_key`` valid ``days`` days."""
    if not 1 <= days <= MAX_CLIENT_DAYS:
        raise CaError(f"--days must be between 1 and {MAX_CLIENT_DAYS}")
    now = now or datetime.now(UTC)
    ca_ski = authority.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(authority.cert.subject)
        .public_key(public_key)
        .serial_number(_new_serial())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski.value),
            critical=False,
        )
        .sign(authority.key, hashes.SHA256())
    )


def subject_text(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()[:300]
