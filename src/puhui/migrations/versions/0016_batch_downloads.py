"""monitoring: signed and encrypted batch downloads

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-27 19:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import puhui.core.orm

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "monitoring_download_quotas",
        sa.Column("institution_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("rows_used", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_monitoring_download_quotas_institution_id_institutions"),
        ),
        sa.PrimaryKeyConstraint(
            "institution_id", "day", name=op.f("pk_monitoring_download_quotas")
        ),
    )
    op.create_table(
        "monitoring_downloads",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=True),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("indicators", sa.JSON(), nullable=False),
        sa.Column("periods", sa.JSON(), nullable=False),
        sa.Column("entity_ids", sa.JSON(), nullable=False),
        sa.Column("entity_count", sa.Integer(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.JSON(), nullable=False),
        sa.Column("package_sm3", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("key_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("package", sa.LargeBinary(), nullable=True),
        sa.Column("expires_at", puhui.core.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at",
            puhui.core.orm.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_monitoring_downloads_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"], ["users.id"], name=op.f("fk_monitoring_downloads_requested_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_downloads")),
        sa.UniqueConstraint("public_id", name=op.f("uq_monitoring_downloads_public_id")),
    )
    with op.batch_alter_table("monitoring_downloads", schema=None) as batch_op:
        batch_op.create_index(
            "ix_monitoring_downloads_institution_created",
            ["institution_id", "created_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("monitoring_downloads", schema=None) as batch_op:
        batch_op.drop_index("ix_monitoring_downloads_institution_created")
    op.drop_table("monitoring_downloads")
    op.drop_table("monitoring_download_quotas")
