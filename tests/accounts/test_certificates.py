"""The platform CA, client certificates and API keys bound to them (decision 0018)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from puhui.accounts import certificates
from puhui.accounts.models import ApiKey, ClientCertificate, Institution
from puhui.audit.models import AuditEvent
from puhui.core.orm import utcnow
from puhui.core.policy import Role
from puhui.core.security import ca
from tests import factories

CERT_HEADER = "X-Client-Cert"


@pytest.fixture(scope="module")
def authority(tmp_path_factory, settings) -> ca.Authority:
    return ca.init(ca.CaPaths(tmp_path_factory.mktemp("ca")), common_name="Test client CA")


def csr_for(key, cn: str = "whatever the bank typed") -> bytes:
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def issue(session, authority, inst: Institution, *, days: int = 30) -> certificates.Issued:
    return certificates.issue(
        session, authority=authority, institution=inst, csr_data=None, days=days
    )


class TestAuthority:
    def test_key_is_encrypted_at_rest_and_opens_with_the_keyring(self, tmp_path, settings):
        paths = ca.CaPaths(tmp_path / "ca")
        made = ca.init(paths, common_name="CA")
        pem = paths.key.read_bytes()
        assert b"ENCRYPTED PRIVATE KEY" in pem and b"BEGIN PRIVATE KEY" not in pem
        with pytest.raises(TypeError):
            serialization.load_pem_private_key(pem, password=None)
        assert paths.passphrase.read_text().startswith("sm4:")
        assert oct(paths.key.stat().st_mode & 0o777) == "0o600"
        loaded = ca.load(paths)
        assert ca.fingerprint(loaded.cert) == ca.fingerprint(made.cert)
        assert loaded.key.private_numbers() == made.key.private_numbers()
        with pytest.raises(ca.CaError, match="already exists"):
            ca.init(paths, common_name="again")

    def test_a_tampered_key_file_does_not_open(self, tmp_path, settings):
        paths = ca.CaPaths(tmp_path / "ca")
        ca.init(paths, common_name="CA")
        other = ca.CaPaths(tmp_path / "other")
        ca.init(other, common_name="CA")
        paths.passphrase.write_bytes(other.passphrase.read_bytes())
        with pytest.raises(ca.CaError, match="does not open"):
            ca.load(paths)
        with pytest.raises(ca.CaError, match="puhui ca init"):
            ca.load(ca.CaPaths(tmp_path / "none"))

    def test_issued_certificate_is_a_client_certificate_of_the_ca(self, authority):
        key = ec.generate_private_key(ec.SECP256R1())
        csr = ca.check_csr(csr_for(key))
        cert = ca.issue(
            authority,
            csr.public_key(),
            subject=ca.client_subject(code="BANK-A", name="甲银行"),
            days=10,
        )
        cert.verify_directly_issued_by(authority.cert)
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "BANK-A"
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
        assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
        assert cert.not_valid_after_utc - cert.not_valid_before_utc <= timedelta(days=10, minutes=5)
        with pytest.raises(ca.CaError, match="between 1 and"):
            ca.issue(authority, csr.public_key(), subject=cert.subject, days=10_000)


class TestCsr:
    def test_p256_is_accepted(self):
        ca.check_csr(csr_for(ec.generate_private_key(ec.SECP256R1())))

    @pytest.mark.parametrize(
        ("key", "message"),
        [
            (lambda: rsa.generate_private_key(65537, 2048), "RSAPublicKey"),
            (lambda: ec.generate_private_key(ec.SECP384R1()), "secp384r1"),
        ],
    )
    def test_other_keys_are_refused(self, key, message):
        with pytest.raises(ca.CaError, match=message):
            ca.check_csr(csr_for(key()))

    def test_a_csr_with_a_broken_signature_is_refused(self):
        key = ec.generate_private_key(ec.SECP256R1())
        der = x509.load_pem_x509_csr(csr_for(key)).public_bytes(serialization.Encoding.DER)
        broken = bytearray(der)
        broken[-3] ^= 0x01  # inside the signature
        with pytest.raises(ca.CaError, match="signature"):
            ca.check_csr(bytes(broken))

    @given(st.binary(max_size=600))
    def test_any_bytes_are_a_csr_or_a_clear_refusal(self, data):
        try:
            ca.check_csr(data)
        except ca.CaError as exc:
            assert str(exc)


@pytest.fixture
def proxied(settings, factory):
    """The app behind a trusted TLS-terminating proxy at 127.0.0.1, and a client calling
    from there (the proxy) and one calling from elsewhere."""
    from puhui.app import create_app

    app = create_app(
        settings.model_copy(update={"trusted_proxies": "127.0.0.1, 10.0.0.0/8"}),
        session_factory=factory,
        start_worker=False,
    )
    with (
        TestClient(app, client=("127.0.0.1", 40000)) as via_proxy,
        TestClient(app, client=("192.0.2.7", 40000)) as direct,
    ):
        yield via_proxy, direct


def with_cert(key: str, pem: str | None) -> dict[str, str]:
    headers = {"X-API-Key": key}
    if pem is not None:
        headers[CERT_HEADER] = quote(pem, safe="")
    return headers


@pytest.fixture
def bank(session, client, authority):
    admin = factories.user(session, Role.INSTITUTION_ADMIN)
    inst = session.get(Institution, admin.institution_id)
    h = factories.token(client, admin.username)
    made = client.post(
        "/api/v1/api-keys", json={"name": "core", "role": "risk_manager"}, headers=h
    ).json()
    cert = issue(session, authority, inst)
    spare = issue(session, authority, inst)
    return {
        "admin": admin.username,
        "admin_h": h,
        "inst": inst,
        "key": made,
        "cert": cert,
        "spare": spare,
    }


def last_reason(session) -> str:
    return denials(session)[-1].details["reason"]


def denials(session) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "permission.denied", AuditEvent.outcome == "denied")
            .order_by(AuditEvent.seq)
        )
    )


class TestBinding:
    def _bind(self, client, bank, cert_id):
        return client.put(
            f"/api/v1/api-keys/{bank['key']['id']}/certificate",
            json={"certificate_id": cert_id},
            headers=bank["admin_h"],
        )

    def test_bound_key_needs_exactly_its_certificate(self, client, session, bank, proxied):
        via_proxy, direct = proxied
        raw, cert = bank["key"]["key"], bank["cert"]
        assert (
            via_proxy.post("/api/v1/auth/logout", headers=with_cert(raw, None)).status_code == 204
        )
        r = self._bind(client, bank, cert.record.id)
        assert r.status_code == 200 and r.json()["client_certificate_id"] == cert.record.id

        before = len(denials(session))
        r = via_proxy.post("/api/v1/auth/logout", headers=with_cert(raw, None))
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "client_certificate_required"
        assert "双向 TLS" in r.json()["error"]["message"]  # translated, with the way out
        r = via_proxy.post("/api/v1/auth/logout", headers=with_cert(raw, bank["spare"].pem))
        assert r.status_code == 401 and last_reason(session) == "wrong_certificate"
        # the right certificate, but from an address that is not a trusted proxy: ignored
        r = direct.post("/api/v1/auth/logout", headers=with_cert(raw, cert.pem))
        assert r.status_code == 401
        r = via_proxy.post("/api/v1/auth/logout", headers=with_cert(raw, cert.pem))
        assert r.status_code == 204, r.text

        events = denials(session)[before:]
        assert len(events) == 3
        assert [e.details["reason"] for e in events] == [
            "no_certificate",
            "wrong_certificate",
            "no_certificate",
        ]
        assert all(e.details["api_key_id"] == str(bank["key"]["id"]) for e in events)

    def test_revoked_or_expired_certificate_is_refused(self, client, session, bank, proxied):
        via_proxy, _ = proxied
        raw, cert = bank["key"]["key"], bank["cert"]
        assert self._bind(client, bank, cert.record.id).status_code == 200
        record = session.get(ClientCertificate, cert.record.id)
        record.not_after = utcnow() - timedelta(seconds=1)
        session.flush()
        r = via_proxy.post("/api/v1/auth/logout", headers=with_cert(raw, cert.pem))
        assert r.status_code == 401 and last_reason(session) == "expired"
        record.not_after = utcnow() + timedelta(days=1)
        certificates.revoke_by_serial(session, serial=record.serial.upper())
        r = via_proxy.post("/api/v1/auth/logout", headers=with_cert(raw, cert.pem))
        assert r.status_code == 401 and last_reason(session) == "revoked"
        # and a revoked certificate cannot be bound again
        r = self._bind(client, bank, cert.record.id)
        assert r.status_code == 422
        assert r.json()["error"]["details"][0]["field"] == "certificate_id"

    def test_another_institutions_certificate_or_key_is_not_found(
        self, client, session, bank, authority
    ):
        other = factories.institution(session)
        foreign = issue(session, authority, other)
        r = self._bind(client, bank, foreign.record.id)
        assert r.status_code == 404
        assert r.json()["error"]["details"][0]["field"] == "certificate_id"
        other_admin = factories.user(session, Role.INSTITUTION_ADMIN, other)
        r = client.put(
            f"/api/v1/api-keys/{bank['key']['id']}/certificate",
            json={"certificate_id": foreign.record.id},
            headers=factories.token(client, other_admin.username),
        )
        assert r.status_code == 404
        listed = client.get("/api/v1/client-certificates", headers=bank["admin_h"]).json()
        assert {c["id"] for c in listed["items"]} == {
            bank["cert"].record.id,
            bank["spare"].record.id,
        }
        assert session.get(ApiKey, bank["key"]["id"]).client_certificate_id is None

    def test_unbinding_and_the_institution_wide_requirement(self, client, session, bank, proxied):
        via_proxy, _ = proxied
        raw, cert = bank["key"]["key"], bank["cert"]
        assert self._bind(client, bank, cert.record.id).status_code == 200
        assert self._bind(client, bank, None).json()["client_certificate_id"] is None
        assert (
            via_proxy.post("/api/v1/auth/logout", headers=with_cert(raw, None)).status_code == 204
        )
        r = client.put(
            "/api/v1/client-certificates/policy", json={"required": True}, headers=bank["admin_h"]
        )
        assert r.status_code == 200 and r.json() == {"required": True}
        r = via_proxy.post("/api/v1/auth/logout", headers=with_cert(raw, cert.pem))
        assert r.status_code == 401 and last_reason(session) == "unbound"
        assert self._bind(client, bank, cert.record.id).status_code == 200
        r = via_proxy.post("/api/v1/auth/logout", headers=with_cert(raw, cert.pem))
        assert r.status_code == 204
        actions = set(
            session.scalars(
                select(AuditEvent.action).where(
                    AuditEvent.institution_id == bank["inst"].id,
                    AuditEvent.action.like("%cert%"),
                )
            )
        )
        assert {
            "apikey.bind_certificate",
            "apikey.unbind_certificate",
            "institution.require_client_cert",
        } <= actions

    def test_a_forged_header_is_not_a_certificate(self, client, bank, proxied):
        via_proxy, _ = proxied
        raw = bank["key"]["key"]
        self._bind(client, bank, bank["cert"].record.id)
        headers = {"X-API-Key": raw, CERT_HEADER: "-----BEGIN CERTIFICATE-----%0Anonsense"}
        assert via_proxy.post("/api/v1/auth/logout", headers=headers).status_code == 401


class TestPage:
    def test_admin_binds_on_the_page(self, app, session, bank):
        with TestClient(app) as browser:
            csrf = factories.web_login(browser, bank["admin"])
            page = browser.get("/admin/api-keys")
            assert page.status_code == 200
            assert bank["cert"].record.fingerprint in page.text
            r = browser.post(
                f"/admin/api-keys/{bank['key']['id']}/certificate",
                data={"certificate_id": str(bank["cert"].record.id), "csrf_token": csrf},
                follow_redirects=False,
            )
            assert r.status_code == 303, r.text
            assert (
                session.get(ApiKey, bank["key"]["id"]).client_certificate_id
                == bank["cert"].record.id
            )
            r = browser.post(
                f"/admin/api-keys/{bank['key']['id']}/certificate",
                data={"certificate_id": "999999", "csrf_token": csrf},
            )
            assert r.status_code == 422 and 'role="alert"' in r.text
            r = browser.post(
                "/admin/api-keys/require-certificate",
                data={"required": "on", "csrf_token": csrf},
                follow_redirects=False,
            )
            assert r.status_code == 303
            session.expire_all()
            assert session.get(Institution, bank["inst"].id).require_client_cert is True


class TestProxyHeader:
    @given(st.text(max_size=300))
    def test_any_header_value_is_a_certificate_or_nothing(self, settings, value):
        from starlette.requests import Request

        from puhui.core import mtls

        trusting = settings.model_copy(update={"trusted_proxies": "127.0.0.1"})
        scope = {
            "type": "http",
            "headers": [(b"x-client-cert", value.encode("utf-8"))],
            "client": ("127.0.0.1", 1),
        }
        assert mtls.client_certificate(Request(scope), trusting) is None

    def test_the_tls_extension_wins_and_untrusted_peers_are_ignored(self, settings, authority):
        from starlette.requests import Request

        from puhui.core import mtls

        key = ec.generate_private_key(ec.SECP256R1())
        cert = ca.issue(
            authority, key.public_key(), subject=ca.client_subject(code="X", name="X"), days=1
        )
        pem = ca.certificate_pem(cert)
        der = cert.public_bytes(serialization.Encoding.DER)
        tls = {"type": "http", "headers": [], "extensions": {"tls": {"client_cert_chain": [pem]}}}
        assert mtls.client_certificate(Request(tls), settings) == der
        trusting = settings.model_copy(update={"trusted_proxies": "10.0.0.0/8"})
        header = [(b"x-client-cert", quote(pem, safe="").encode())]
        near = {"type": "http", "headers": header, "client": ("10.1.2.3", 1)}
        far = {"type": "http", "headers": header, "client": ("11.1.2.3", 1)}
        assert mtls.client_certificate(Request(near), trusting) == der
        assert mtls.client_certificate(Request(far), trusting) is None
        assert mtls.client_certificate(Request(near), settings) is None  # no proxies trusted
