"""objections: disputes of data items with the 20-day deadline

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-27 19:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import puhui.core.orm

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, puhui.core.orm.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "objections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("indicator_id", sa.SmallInteger(), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.String(length=500), nullable=True),
        sa.Column("source_code", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        _when("submitted_at", False),
        _when("due_at", False),
        sa.Column("routed_source", sa.String(length=16), nullable=True),
        _when("routed_at"),
        sa.Column("routed_by", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=12), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=True),
        sa.Column("corrected_value", sa.String(length=500), nullable=True),
        sa.Column("correction_batch_id", sa.Integer(), nullable=True),
        _when("answered_at"),
        sa.Column("answered_by", sa.Integer(), nullable=True),
        _when("closed_at"),
        _when("reminded_at"),
        sa.Column("escalated", sa.Boolean(), nullable=False),
        _when("escalated_at"),
        sa.Column(
            "created_at",
            puhui.core.orm.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["entity_id"], ["entities.id"], name=op.f("fk_objections_entity_id_entities")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_objections_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["indicator_id"], ["indicators.id"], name=op.f("fk_objections_indicator_id_indicators")
        ),
        sa.ForeignKeyConstraint(
            ["routed_by"], ["users.id"], name=op.f("fk_objections_routed_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["answered_by"], ["users.id"], name=op.f("fk_objections_answered_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_objections")),
    )
    op.create_index("ix_objections_entity", "objections", ["entity_id", "status"])
    op.create_index("ix_objections_status_due", "objections", ["status", "due_at"])
    op.create_table(
        "objection_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("objection_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            puhui.core.orm.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["objection_id"],
            ["objections.id"],
            name=op.f("fk_objection_attachments_objection_id_objections"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_objection_attachments")),
    )
    op.create_index("ix_objection_attachments_objection", "objection_attachments", ["objection_id"])


def downgrade() -> None:
    op.drop_index("ix_objection_attachments_objection", table_name="objection_attachments")
    op.drop_table("objection_attachments")
    op.drop_index("ix_objections_status_due", table_name="objections")
    op.drop_index("ix_objections_entity", table_name="objections")
    op.drop_table("objections")
