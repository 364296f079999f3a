"""psi sessions and abuse limits

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27 18:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import puhui.core.orm

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_counters",
        sa.Column("key", sa.String(length=96), nullable=False),
        sa.Column(
            "window_start",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("expires_at", puhui.core.orm.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start", name=op.f("pk_rate_counters")),
    )
    op.create_index(
        op.f("ix_rate_counters_expires_at"), "rate_counters", ["expires_at"], unique=False
    )
    op.create_table(
        "psi_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("filter", sa.JSON(), nullable=False),
        sa.Column("filter_summary", sa.String(length=2000), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=True),
        sa.Column("client_items", sa.Integer(), nullable=True),
        sa.Column("server_items", sa.Integer(), nullable=True),
        sa.Column("expires_at", puhui.core.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", puhui.core.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            puhui.core.orm.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name=op.f("fk_psi_sessions_api_key_id_api_keys")
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_psi_sessions_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_psi_sessions_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_psi_sessions")),
        sa.UniqueConstraint("public_id", name=op.f("uq_psi_sessions_public_id")),
    )
    op.create_index(
        "ix_psi_sessions_institution",
        "psi_sessions",
        ["institution_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "psi_grants",
        sa.Column("institution_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("granted_by", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            puhui.core.orm.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["granted_by"], ["users.id"], name=op.f("fk_psi_grants_granted_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_psi_grants_institution_id_institutions"),
        ),
        sa.PrimaryKeyConstraint("institution_id", name=op.f("pk_psi_grants")),
    )


def downgrade() -> None:
    op.drop_table("psi_grants")
    op.drop_index("ix_psi_sessions_institution", table_name="psi_sessions")
    op.drop_table("psi_sessions")
    op.drop_index(op.f("ix_rate_counters_expires_at"), table_name="rate_counters")
    op.drop_table("rate_counters")
