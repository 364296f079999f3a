"""quality rollups: service months, contact-time medians, first loans, places, refreshes

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-27 22:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import puhui.core.orm

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "quality_service_months",
        sa.Column("institution_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("claims", sa.Integer(), nullable=False),
        sa.Column("active", sa.Integer(), nullable=False),
        sa.Column("in_sla", sa.Integer(), nullable=False),
        sa.Column("contact_known", sa.Integer(), nullable=False),
        sa.Column("granted", sa.Integer(), nullable=False),
        sa.Column("overdue", sa.Integer(), nullable=False),
        sa.Column("rating_sum", sa.BigInteger(), nullable=False),
        sa.Column("ratings", sa.Integer(), nullable=False),
        sa.Column("complaints", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("institution_id", "month", name=op.f("pk_quality_service_months")),
    )
    op.create_table(
        "quality_medians",
        sa.Column("scope", sa.String(length=1), nullable=False),
        sa.Column("institution_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("hours", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint(
            "scope", "institution_id", "month", name=op.f("pk_quality_medians")
        ),
    )
    op.create_table(
        "quality_first_loans",
        sa.Column("district", sa.String(length=6), nullable=False),
        sa.Column("section", sa.String(length=1), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("entities", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "district", "section", "month", name=op.f("pk_quality_first_loans")
        ),
    )
    op.create_table(
        "quality_places",
        sa.Column("district", sa.String(length=6), nullable=False),
        sa.Column("section", sa.String(length=1), nullable=False),
        sa.Column("entities", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("district", "section", name=op.f("pk_quality_places")),
    )
    op.create_table(
        "quality_refreshes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", puhui.core.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", puhui.core.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_refreshes")),
    )


def downgrade() -> None:
    op.drop_table("quality_refreshes")
    op.drop_table("quality_places")
    op.drop_table("quality_first_loans")
    op.drop_table("quality_medians")
    op.drop_table("quality_service_months")
