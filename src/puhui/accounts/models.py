"""Accounts tables. Secrets (passwords, session ids, tokens, keys, codes) are stored only
as hashes or digests."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from puhui.core.orm import Base, CreatedAtMixin, UTCDateTime
from puhui.core.policy import InstitutionKind, Role
from puhui.core.security.fields import EncryptedString, blind_index

SECOND_FACTOR_PURPOSE = "second_factors.secret"


class Institution(CreatedAtMixin, Base):
    __tablename__ = "institutions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    code: Mapped[str | None] = mapped_column(String(40), unique=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # every API key of the institution must be bound to a client certificate (decision 0018)
    require_client_cert: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )

    @property
    def kind_enum(self) -> InstitutionKind:
        return InstitutionKind(self.kind)


MOBILE_PURPOSE = "users.mobile"


class User(CreatedAtMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    entity_uscc: Mapped[str | None] = mapped_column(String(18), unique=True)
    mobile: Mapped[str | None] = mapped_column(EncryptedString(MOBILE_PURPOSE))
    # HMAC-SM3 blind index of the mobile number: exact lookup without decrypting
    mobile_bidx: Mapped[str | None] = mapped_column(String(64))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    institution: Mapped[Institution | None] = relationship(lazy="raise")

    __table_args__ = (
        Index("ix_users_institution_id", "institution_id"),
        Index("ix_users_mobile_bidx", "mobile_bidx"),
    )

    @validates("mobile")
    def _index_mobile(self, key: str, value: str | None) -> str | None:
        self.mobile_bidx = blind_index(MOBILE_PURPOSE, value)
        return value

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now


class AuthSession(CreatedAtMixin, Base):
    """A web session (cookie) or an API bearer token; ``id`` is the token's digest."""

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # "web" or "token"
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    # "code" (password checked, second factor not yet) or "enrol" (must enrol first): a
    # pending session authorizes nothing but its own second step
    pending: Mapped[str | None] = mapped_column(String(8))
    second_factor_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_auth_sessions_user_id", "user_id"),)

    def is_live(self, now: datetime, idle: timedelta) -> bool:
        if now >= self.expires_at:
            return False
        return not (self.kind == "web" and now - self.last_seen_at >= idle)


class ApiKey(CreatedAtMixin, Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # a bound key is accepted only over a connection that presents this certificate
    client_certificate_id: Mapped[int | None] = mapped_column(ForeignKey("client_certificates.id"))

    __table_args__ = (Index("ix_api_keys_institution_id", "institution_id"),)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ClientCertificate(CreatedAtMixin, Base):
    """A client certificate the platform CA issued to an institution (decision 0018).

    ``fingerprint`` is the hex SHA-256 of the certificate's DER bytes: the one thing
    compared when a connection presents a certificate. The PEM is public; the private key
    never reaches the platform when the institution sent a CSR."""

    __tablename__ = "client_certificates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial: Mapped[str] = mapped_column(String(40), unique=True)  # hex
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    subject: Mapped[str] = mapped_column(String(300))
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    not_after: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    pem: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_client_certificates_institution_id", "institution_id"),)

    def status(self, now: datetime) -> str:
        """``revoked``, ``expired``, ``not_yet_valid`` or ``valid``."""
        if self.revoked_at is not None:
            return "revoked"
        if now >= self.not_after:
            return "expired"
        if now < self.not_before:
            return "not_yet_valid"
        return "valid"


class OneTimeCode(CreatedAtMixin, Base):
    """A code sent to a mobile number; the number and the code are stored as keyed digests."""

    __tablename__ = "one_time_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32))
    recipient_digest: Mapped[str] = mapped_column(String(64))
    code_digest: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_one_time_codes_recipient", "recipient_digest", "purpose"),)


class SecondFactor(CreatedAtMixin, Base):
    """A user's TOTP authenticator (RFC 6238, 30 s, 6 digits). The shared secret is stored
    SM4-encrypted; ``last_step`` is the time step of the last code accepted, so a code is
    accepted once (no replay within its validity window)."""

    __tablename__ = "second_factors"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    secret: Mapped[str] = mapped_column(EncryptedString(SECOND_FACTOR_PURPOSE))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_step: Mapped[int | None] = mapped_column(Integer)

    @property
    def is_confirmed(self) -> bool:
        return self.confirmed_at is not None


class RecoveryCode(CreatedAtMixin, Base):
    """A single-use recovery code, stored as a SHA-256 digest (the code has 48 random bits
    and is tried only after the password)."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    code_digest: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_recovery_codes_user_id", "user_id"),)
