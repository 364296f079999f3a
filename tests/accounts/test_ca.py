"""``puhui ca`` on the command line, and a real mutual-TLS handshake against ``puhui serve``'s
TLS set-up (uvicorn with the protocol that hands the client certificate to the app)."""

from __future__ import annotations

import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from urllib.parse import quote

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from puhui.accounts import certificates
from puhui.accounts.models import ApiKey, ClientCertificate, Institution
from puhui.audit.models import AuditEvent
from puhui.cli import app as cli
from puhui.core.policy import InstitutionKind
from puhui.core.security import ca, digest
from tests.conftest import create_database


@pytest.fixture
def cli_db(tmp_path, monkeypatch, settings) -> Iterator[str]:
    from puhui.config import get_settings

    url, drop = create_database(os.environ.get("PUHUI_TEST_DATABASE_URL"), tmp_path, "ca")
    monkeypatch.setenv("PUHUI_DATABASE_URL", url)
    monkeypatch.setenv("PUHUI_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()
    monkeypatch.undo()
    get_settings.cache_clear()
    drop()


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def rows(url: str, stmt):
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(stmt))
    finally:
        engine.dispose()


def write_csr(path, key, cn: str = "bank's own name") -> None:
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))


class TestCaCommands:
    def test_init_issue_list_revoke(self, cli_db, tmp_path):
        assert run("ca", "issue", "--institution", "BANK-A", "--out", str(tmp_path)).exit_code == 2
        r = run("ca", "init")
        assert r.exit_code == 0, r.output
        assert "already exists" in run("ca", "init").output
        r = run(
            "admin", "create-institution", "--name", "甲银行", "--kind", "bank", "--code", "BANK-A"
        )
        assert r.exit_code == 0, r.output

        out = tmp_path / "issued"
        r = run("ca", "issue", "--institution", "BANK-A", "--out", str(out), "--days", "30")
        assert r.exit_code == 0, r.output
        crt = next(out.glob("BANK-A-*.crt"))
        key = next(out.glob("BANK-A-*.key"))
        assert oct(key.stat().st_mode & 0o777) == "0o600"
        cert = x509.load_pem_x509_certificate(crt.read_bytes())
        cert.verify_directly_issued_by(
            x509.load_pem_x509_certificate((out / "ca.crt").read_bytes())
        )

        bank_key = ec.generate_private_key(ec.SECP256R1())
        write_csr(tmp_path / "bank.csr", bank_key)
        r = run("ca", "issue", "--institution", "甲银行", "--csr", str(tmp_path / "bank.csr"))
        assert r.exit_code == 0, r.output
        signed = x509.load_pem_x509_certificate(r.stdout.encode()[r.stdout.index("-----BEGIN") :])
        assert signed.public_key() == bank_key.public_key()
        # the platform names the subject, not the CSR
        assert signed.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "BANK-A"

        recorded = rows(cli_db, select(ClientCertificate.serial, ClientCertificate.fingerprint))
        assert {s for s, _ in recorded} == {ca.serial_hex(cert), ca.serial_hex(signed)}
        assert ca.fingerprint(cert) in {f for _, f in recorded}
        r = run("ca", "list", "--institution", "BANK-A")
        assert r.exit_code == 0 and "valid" in r.output

        serial = ca.serial_hex(cert)
        r = run("ca", "revoke", serial.upper())
        assert r.exit_code == 0, r.output
        revoked = rows(
            cli_db,
            select(ClientCertificate.revoked_at).where(ClientCertificate.serial == serial),
        )
        assert revoked[0][0] is not None
        assert run("ca", "revoke", "abcdef").exit_code == 2
        assert run("ca", "revoke", "not-hex").exit_code == 2
        actions = [a for (a,) in rows(cli_db, select(AuditEvent.action))]
        assert actions.count("certificate.issue") == 2
        assert {"ca.init", "certificate.revoke"} <= set(actions)

    @pytest.mark.parametrize(
        ("make", "message"),
        [
            ("rsa", "ECDSA P-256"),
            ("p384", "ECDSA P-256"),
            ("garbage", "not a certificate signing request"),
            ("tampered", "signature is invalid"),
            ("missing", "no such file"),
        ],
    )
    def test_bad_csr_is_refused_and_nothing_is_recorded(self, cli_db, tmp_path, make, message):
        assert run("ca", "init").exit_code == 0
        run("admin", "create-institution", "--name", "乙银行", "--kind", "bank", "--code", "B")
        path = tmp_path / "x.csr"
        if make == "rsa":
            write_csr(path, rsa.generate_private_key(65537, 2048))
        elif make == "p384":
            write_csr(path, ec.generate_private_key(ec.SECP384R1()))
        elif make == "garbage":
            path.write_bytes(b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n")
        elif make == "tampered":
            write_csr(path, ec.generate_private_key(ec.SECP256R1()), cn="aaaa")
            path.write_bytes(
                x509.load_pem_x509_csr(path.read_bytes())
                .public_bytes(serialization.Encoding.DER)
                .replace(b"aaaa", b"aaab")
            )
        r = run("ca", "issue", "--institution", "B", "--csr", str(path))
        assert r.exit_code == 2
        assert message in " ".join(r.output.split())
        assert rows(cli_db, select(ClientCertificate.id)) == []

    def test_unknown_institution_and_bad_arguments(self, cli_db, tmp_path):
        assert run("ca", "init").exit_code == 0
        r = run("ca", "issue", "--institution", "NOPE", "--out", str(tmp_path / "o"))
        assert r.exit_code == 2 and "No institution" in r.output
        r = run("ca", "issue", "--institution", "NOPE")
        assert r.exit_code == 2 and "--csr" in r.output
        r = run("ca", "issue", "--institution", "NOPE", "--out", str(tmp_path), "--days", "0")
        assert r.exit_code == 2
        assert rows(cli_db, select(ClientCertificate.id)) == []
        assert not (tmp_path / "o").exists()  # refused before any file was written

    def test_serve_checks_its_tls_options(self, cli_db, tmp_path):
        r = run("serve", "--client-ca", str(tmp_path / "ca.crt"))
        assert r.exit_code == 2 and "--tls-cert" in r.output
        r = run("serve", "--tls-cert", str(tmp_path / "a"), "--tls-key", str(tmp_path / "b"))
        assert r.exit_code == 2 and "no such file" in r.output


# --- a real mutual-TLS handshake ------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_cert(tmp_path):
    """A self-signed server certificate for 127.0.0.1 (the server side is not under test)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    crt, pem_key = tmp_path / "server.crt", tmp_path / "server.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem_key.write_bytes(ca.private_key_pem(key))
    return crt, pem_key


def _client(server_crt, cert_pem: str | None = None, key_pem: bytes | None = None, tmp=None):
    ctx = ssl.create_default_context(cafile=str(server_crt))
    if cert_pem is not None:
        (tmp / "c.crt").write_text(cert_pem)
        (tmp / "c.key").write_bytes(key_pem)
        ctx.load_cert_chain(str(tmp / "c.crt"), str(tmp / "c.key"))
    return httpx.Client(verify=ctx, timeout=10)


@pytest.fixture
def own_engine(tmp_path):
    from puhui import migrate
    from puhui.core.db import make_engine

    url, drop = create_database(os.environ.get("PUHUI_TEST_DATABASE_URL"), tmp_path, "mtls")
    engine = make_engine(url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()
    drop()


@contextmanager
def serving(app, **options) -> Iterator[int]:
    """Serve ``app`` with uvicorn and the protocol ``puhui serve`` uses, on a free port."""
    import uvicorn

    from puhui.core.mtls_uvicorn import PROTOCOL

    port = _free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        http=PROTOCOL,
        **options,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
            time.sleep(0.05)
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def bound(own_engine, settings, tmp_path):
    """An institution with a key bound to a certificate of a fresh platform CA, committed
    in a database of the test's own (a real server reads it from other threads)."""
    factory = sessionmaker(own_engine, expire_on_commit=False)
    platform_ca = ca.init(ca.CaPaths(tmp_path / "ca"), common_name="Test CA")
    raw = "phk_mtlstest_" + "s" * 40
    with factory.begin() as session:
        inst = Institution(name="丙银行", kind=InstitutionKind.BANK.value, code="BANK-C")
        session.add(inst)
        session.flush()
        issued = certificates.issue(
            session, authority=platform_ca, institution=inst, csr_data=None, days=5
        )
        session.add(
            ApiKey(
                institution_id=inst.id,
                name="core",
                role="risk_manager",
                prefix="mtlstest",
                key_digest=digest(raw),
                client_certificate_id=issued.record.id,
            )
        )
    return factory, issued, {"X-API-Key": raw}


def _reasons(engine) -> list[str]:
    with Session(engine) as session:
        return [
            e.details["reason"]
            for e in session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "permission.denied")
                .order_by(AuditEvent.seq)
            )
        ]


class TestMutualTls:
    def test_a_bound_key_over_a_real_mtls_connection(self, own_engine, settings, tmp_path, bound):
        from puhui.app import create_app
        from puhui.core import mtls

        factory, issued, headers = bound
        rogue_ca = ca.init(ca.CaPaths(tmp_path / "rogue"), common_name="Test CA")
        rogue_key = ca.new_client_key()
        # the same subject and the same CA name, but another CA's signature
        rogue = ca.issue(
            rogue_ca,
            rogue_key.public_key(),
            subject=ca.client_subject(code="BANK-C", name="丙银行"),
            days=5,
        )
        server_crt, server_key = _server_cert(tmp_path)
        app = create_app(settings, session_factory=factory, start_worker=False)
        tls = mtls.server_ssl_options(
            cert=str(server_crt),
            key=str(server_key),
            client_ca=str(tmp_path / "ca" / "ca.crt"),
            require_client_cert=False,
        )
        with serving(app, **tls) as port:
            url = f"https://127.0.0.1:{port}/api/v1/auth/logout"
            with _client(server_crt, issued.pem, issued.private_key_pem, tmp_path) as c:
                r = c.post(url, headers=headers)
                assert r.status_code == 204, r.text
            with _client(server_crt) as c:
                assert c.get(f"https://127.0.0.1:{port}/healthz").status_code == 200
                r = c.post(url, headers=headers)
                assert r.status_code == 401
                assert r.json()["error"]["code"] == "client_certificate_required"
                # a header naming the right certificate, sent directly (not by a trusted proxy)
                forged = {**headers, "X-Client-Cert": quote(issued.pem, safe="")}
                assert c.post(url, headers=forged).status_code == 401
            with (
                _client(
                    server_crt, ca.certificate_pem(rogue), ca.private_key_pem(rogue_key), tmp_path
                ) as c,
                pytest.raises(httpx.TransportError),
            ):
                c.post(url, headers=headers)
        assert _reasons(own_engine) == ["no_certificate", "no_certificate"]

    def test_behind_a_trusted_proxy_with_forwarded_for(self, own_engine, settings, bound):
        """uvicorn rewrites the client address from X-Forwarded-For; the header is still
        judged by the TCP peer (the proxy), which is what the protocol records."""
        from puhui.app import create_app

        factory, issued, headers = bound
        proxy_settings = settings.model_copy(update={"trusted_proxies": "127.0.0.1"})
        app = create_app(proxy_settings, session_factory=factory, start_worker=False)
        with serving(app, proxy_headers=True, forwarded_allow_ips="127.0.0.1") as port:
            url = f"http://127.0.0.1:{port}/api/v1/auth/logout"
            forwarded = {**headers, "X-Forwarded-For": "203.0.113.9"}
            with httpx.Client(timeout=10) as c:
                r = c.post(url, headers={**forwarded, "X-Client-Cert": quote(issued.pem, safe="")})
                assert r.status_code == 204, r.text
                assert c.post(url, headers=forwarded).status_code == 401
        with Session(own_engine) as session:
            ips = set(
                session.scalars(
                    select(AuditEvent.ip).where(AuditEvent.action == "permission.denied")
                )
            )
        assert ips == {"203.0.113.9"}  # the real client, as the proxy reported it
