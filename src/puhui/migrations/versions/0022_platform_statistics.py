"""platform statistics: LPR entries, monthly rollups, grant facts, refresh runs

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-27 21:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import puhui.core.orm

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _when(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, puhui.core.orm.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "lpr_rates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenor", sa.String(length=2), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("rate_bp", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            puhui.core.orm.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_lpr_rates_created_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lpr_rates")),
        sa.UniqueConstraint("tenor", "effective_on", name="uq_lpr_rates_tenor_day"),
    )
    op.create_table(
        "stats_monthly",
        sa.Column("metric", sa.String(length=24), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("dim", sa.String(length=40), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("metric", "month", "dim", name=op.f("pk_stats_monthly")),
    )
    op.create_index("ix_stats_monthly_month", "stats_monthly", ["month", "metric", "dim", "value"])
    op.create_table(
        "stats_grants",
        sa.Column("claim_id", BIGINT, autoincrement=False, nullable=False),
        sa.Column("demand_id", sa.BigInteger(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=12), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        _when("granted_at", False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("rate_bp", sa.Integer(), nullable=True),
        sa.Column("first_time", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("claim_id", name=op.f("pk_stats_grants")),
    )
    op.create_index("ix_stats_grants_month", "stats_grants", ["month"])
    op.create_index("ix_stats_grants_entity", "stats_grants", ["entity_id", "granted_at"])
    op.create_table(
        "stats_refreshes",
        sa.Column("id", sa.Integer(), nullable=False),
        _when("started_at", False),
        _when("finished_at", False),
        sa.Column("since_month", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stats_refreshes")),
    )


def downgrade() -> None:
    op.drop_table("stats_refreshes")
    op.drop_index("ix_stats_grants_entity", table_name="stats_grants")
    op.drop_index("ix_stats_grants_month", table_name="stats_grants")
    op.drop_table("stats_grants")
    op.drop_index("ix_stats_monthly_month", table_name="stats_monthly")
    op.drop_table("stats_monthly")
    op.drop_table("lpr_rates")
