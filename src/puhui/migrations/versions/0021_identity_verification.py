"""identity verification of legal representatives

Verification attempts (claimed name and ID number SM4-encrypted), the manual provider's
encrypted photos and the nonces of accepted provider callbacks (decision 0019).

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-27 21:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import puhui.core.orm

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, puhui.core.orm.UTCDateTime(timezone=True), nullable=nullable)


def _created() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "created_at",
        puhui.core.orm.UTCDateTime(timezone=True),
        server_default=sa.text("CURRENT_TIMESTAMP"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "identity_verifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("entity_uscc", sa.String(length=18), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("claimed_name", sa.String(), nullable=False),
        sa.Column("claimed_id_number", sa.String(), nullable=False),
        sa.Column("subject_bidx", sa.String(length=64), nullable=True),
        sa.Column("redirect_url", sa.String(length=500), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        _when("submitted_at"),
        _when("expires_at", False),
        _when("decided_at"),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        _created(),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_identity_verifications_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["users.id"], name=op.f("fk_identity_verifications_decided_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_verifications")),
    )
    op.create_index(
        "ix_identity_verifications_user", "identity_verifications", ["user_id", "status"]
    )
    op.create_index(
        "ix_identity_verifications_status", "identity_verifications", ["status", "submitted_at"]
    )
    op.create_index(
        "uq_identity_verifications_reference",
        "identity_verifications",
        ["provider", "reference"],
        unique=True,
    )
    op.create_table(
        "identity_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("verification_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("content_type", sa.String(length=20), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("stored_name", sa.String(length=64), nullable=False),
        _when("purge_after"),
        _when("purged_at"),
        _created(),
        sa.ForeignKeyConstraint(
            ["verification_id"],
            ["identity_verifications.id"],
            name=op.f("fk_identity_documents_verification_id_identity_verifications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_documents")),
    )
    op.create_index(
        "uq_identity_documents_kind", "identity_documents", ["verification_id", "kind"], unique=True
    )
    op.create_index(
        "ix_identity_documents_purge", "identity_documents", ["purged_at", "purge_after"]
    )
    op.create_table(
        "identity_callback_nonces",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        _when("received_at", False),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_identity_callback_nonces")),
    )
    op.create_index(
        "ix_identity_callback_nonces_received", "identity_callback_nonces", ["received_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_identity_callback_nonces_received", table_name="identity_callback_nonces")
    op.drop_table("identity_callback_nonces")
    op.drop_index("ix_identity_documents_purge", table_name="identity_documents")
    op.drop_index("uq_identity_documents_kind", table_name="identity_documents")
    op.drop_table("identity_documents")
    op.drop_index("uq_identity_verifications_reference", table_name="identity_verifications")
    op.drop_index("ix_identity_verifications_status", table_name="identity_verifications")
    op.drop_index("ix_identity_verifications_user", table_name="identity_verifications")
    op.drop_table("identity_verifications")
