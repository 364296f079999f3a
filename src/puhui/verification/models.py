"""Identity-verification tables.

- ``identity_verifications``: one attempt of one enterprise user for one entity. The
  claimed name and ID number are SM4-encrypted (C2/C3 personal data); ``subject_bidx`` is
  the blind index of the pair, so the gate can tell that the registry now names another
  legal representative without decrypting anything.
- ``identity_documents``: the photos of the manual provider, SM4-GCM encrypted files under
  ``<data dir>/verification/``; the row outlives the file (``purged_at``) as a record that
  it existed.
- ``identity_callback_nonces``: nonces of provider callbacks already accepted (replay
  protection), kept for twice the accepted clock skew.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from puhui.core.orm import Base, CreatedAtMixin, UTCDateTime
from puhui.core.security.fields import EncryptedString

NAME_PURPOSE = "identity_verifications.claimed_name"
ID_NUMBER_PURPOSE = "identity_verifications.claimed_id_number"
SUBJECT_PURPOSE = "identity_verifications.subject"

PENDING = "pending"  # started: waiting for the photos (manual) or the provider (http)
SUBMITTED = "submitted"  # manual: photos uploaded, in the operators' queue
VERIFIED = "verified"
REJECTED = "rejected"
EXPIRED = "expired"
OPEN_STATUSES = (PENDING, SUBMITTED)
STATUSES = (PENDING, SUBMITTED, VERIFIED, REJECTED, EXPIRED)


class IdentityVerification(CreatedAtMixin, Base):
    __tablename__ = "identity_verifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    entity_uscc: Mapped[str] = mapped_column(String(18))
    provider: Mapped[str] = mapped_column(String(16))
    # the provider's name for this attempt (ours for manual); unique per provider
    reference: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), default=PENDING)
    claimed_name: Mapped[str] = mapped_column(EncryptedString(NAME_PURPOSE))
    claimed_id_number: Mapped[str] = mapped_column(EncryptedString(ID_NUMBER_PURPOSE))
    subject_bidx: Mapped[str | None] = mapped_column(String(64))
    redirect_url: Mapped[str | None] = mapped_column(String(500))
    reason: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    __table_args__ = (
        Index("ix_identity_verifications_user", "user_id", "status"),
        Index("ix_identity_verifications_status", "status", "submitted_at"),
        Index("uq_identity_verifications_reference", "provider", "reference", unique=True),
    )

    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class IdentityDocument(CreatedAtMixin, Base):
    """One photo: ``kind`` is ``id_card`` or ``holding`` (the person holding the card)."""

    __tablename__ = "identity_documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    verification_id: Mapped[int] = mapped_column(ForeignKey("identity_verifications.id"))
    kind: Mapped[str] = mapped_column(String(12))
    content_type: Mapped[str] = mapped_column(String(20))
    size_bytes: Mapped[int] = mapped_column(Integer)
    stored_name: Mapped[str] = mapped_column(String(64))
    purge_after: Mapped[datetime | None] = mapped_column(UTCDateTime())
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("uq_identity_documents_kind", "verification_id", "kind", unique=True),
        Index("ix_identity_documents_purge", "purged_at", "purge_after"),
    )


class CallbackNonce(Base):
    __tablename__ = "identity_callback_nonces"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_identity_callback_nonces_received", "received_at"),)
