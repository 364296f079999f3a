"""acquisition: saved filters, lead exports and invitations

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 18:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import puhui.core.orm

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lead_export_quota",
        sa.Column("institution_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("rows_used", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_lead_export_quota_institution_id_institutions"),
        ),
        sa.PrimaryKeyConstraint("institution_id", "day", name=op.f("pk_lead_export_quota")),
    )
    op.create_table(
        "saved_filters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("schedule", sa.String(length=10), nullable=False),
        sa.Column("next_run_at", puhui.core.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_run_id", sa.Integer(), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("updated_at", puhui.core.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            puhui.core.orm.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_saved_filters_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_saved_filters_owner_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_filters")),
    )
    op.create_index("ix_saved_filters_due", "saved_filters", ["next_run_at"], unique=False)
    op.create_index(
        "ix_saved_filters_institution", "saved_filters", ["institution_id"], unique=False
    )
    op.create_table(
        "filter_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("saved_filter_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("trigger", sa.String(length=10), nullable=False),
        sa.Column("snapshot_version", sa.Integer(), nullable=True),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("new_count", sa.Integer(), nullable=False),
        sa.Column("gone_count", sa.Integer(), nullable=False),
        sa.Column("previous_run_id", sa.Integer(), nullable=True),
        sa.Column("ids", sa.LargeBinary(), nullable=False),
        sa.Column("new_ids", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at",
            puhui.core.orm.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["saved_filter_id"],
            ["saved_filters.id"],
            name=op.f("fk_filter_runs_saved_filter_id_saved_filters"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_filter_runs_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_filter_runs")),
    )
    op.create_index("ix_filter_runs_filter", "filter_runs", ["saved_filter_id", "id"], unique=False)
    op.create_table(
        "lead_exports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=10), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column(
            "created_at",
            puhui.core.orm.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_lead_exports_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["filter_runs.id"], name=op.f("fk_lead_exports_run_id_filter_runs")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_lead_exports_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_exports")),
    )
    op.create_index(
        "ix_lead_exports_institution_day", "lead_exports", ["institution_id", "day"], unique=False
    )
    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("saved_filter_id", sa.Integer(), nullable=True),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("message", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("pending_key", sa.String(length=40), nullable=True),
        sa.Column("expires_at", puhui.core.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("responded_at", puhui.core.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("response_note", sa.String(length=300), nullable=False),
        sa.Column("demand_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("consent_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            puhui.core.orm.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["consent_id"], ["consents.id"], name=op.f("fk_invitations_consent_id_consents")
        ),
        sa.ForeignKeyConstraint(
            ["demand_id"], ["demands.id"], name=op.f("fk_invitations_demand_id_demands")
        ),
        sa.ForeignKeyConstraint(
            ["entity_id"], ["entities.id"], name=op.f("fk_invitations_entity_id_entities")
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_invitations_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_invitations_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["saved_filter_id"],
            ["saved_filters.id"],
            name=op.f("fk_invitations_saved_filter_id_saved_filters"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_invitations_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("pending_key", name=op.f("uq_invitations_pending_key")),
    )
    op.create_index("ix_invitations_entity", "invitations", ["entity_id", "status"], unique=False)
    op.create_index(
        "ix_invitations_institution", "invitations", ["institution_id", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_invitations_institution", table_name="invitations")
    op.drop_index("ix_invitations_entity", table_name="invitations")
    op.drop_table("invitations")
    op.drop_index("ix_lead_exports_institution_day", table_name="lead_exports")
    op.drop_table("lead_exports")
    op.drop_index("ix_filter_runs_filter", table_name="filter_runs")
    op.drop_table("filter_runs")
    op.drop_index("ix_saved_filters_institution", table_name="saved_filters")
    op.drop_index("ix_saved_filters_due", table_name="saved_filters")
    op.drop_table("saved_filters")
    op.drop_table("lead_export_quota")
