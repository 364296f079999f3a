"""monitoring: watchlists, warning rules, alerts and batch downloads

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 18:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import puhui.core.orm

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "monitoring_rule_sets",
        sa.Column("institution_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", puhui.core.orm.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_monitoring_rule_sets_institution_id_institutions"),
        ),
        sa.PrimaryKeyConstraint("institution_id", name=op.f("pk_monitoring_rule_sets")),
    )
    op.create_table(
        "monitoring_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("indicator_id", sa.SmallInteger(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("op", sa.String(length=2), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("template", sa.String(length=40), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", puhui.core.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at",
            puhui.core.orm.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_monitoring_rules_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["indicator_id"],
            ["indicators.id"],
            name=op.f("fk_monitoring_rules_indicator_id_indicators"),
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_monitoring_rules_institution_id_institutions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_rules")),
    )
    with op.batch_alter_table("monitoring_rules", schema=None) as batch_op:
        batch_op.create_index(
            "ix_monitoring_rules_institution_enabled", ["institution_id", "enabled"], unique=False
        )

    op.create_table(
        "monitoring_watches",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("added_by", sa.Integer(), nullable=True),
        sa.Column("claim_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("removed_at", puhui.core.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            puhui.core.orm.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["added_by"], ["users.id"], name=op.f("fk_monitoring_watches_added_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["entity_id"], ["entities.id"], name=op.f("fk_monitoring_watches_entity_id_entities")
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_monitoring_watches_institution_id_institutions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_watches")),
        sa.UniqueConstraint(
            "institution_id",
            "entity_id",
            name=op.f("uq_monitoring_watches_institution_id_entity_id"),
        ),
    )
    op.create_table(
        "monitoring_alerts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("indicator_id", sa.SmallInteger(), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("base_value", sa.Float(), nullable=True),
        sa.Column("measure", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("op", sa.String(length=2), nullable=False),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("rule_set_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("acted_by", sa.Integer(), nullable=True),
        sa.Column("acknowledged_at", puhui.core.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("handled_at", puhui.core.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", puhui.core.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sms_at", puhui.core.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            puhui.core.orm.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["acted_by"], ["users.id"], name=op.f("fk_monitoring_alerts_acted_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["entity_id"], ["entities.id"], name=op.f("fk_monitoring_alerts_entity_id_entities")
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_monitoring_alerts_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["monitoring_rules.id"],
            name=op.f("fk_monitoring_alerts_rule_id_monitoring_rules"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_alerts")),
        sa.UniqueConstraint(
            "institution_id",
            "entity_id",
            "rule_id",
            "period",
            name=op.f("uq_monitoring_alerts_institution_id_entity_id_rule_id_period"),
        ),
    )
    with op.batch_alter_table("monitoring_alerts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_monitoring_alerts_institution_created",
            ["institution_id", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_monitoring_alerts_institution_status", ["institution_id", "status"], unique=False
        )

    op.create_table(
        "monitoring_snoozes",
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("until", sa.Date(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", puhui.core.orm.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_monitoring_snoozes_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["entity_id"], ["entities.id"], name=op.f("fk_monitoring_snoozes_entity_id_entities")
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["monitoring_rules.id"],
            name=op.f("fk_monitoring_snoozes_rule_id_monitoring_rules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("rule_id", "entity_id", name=op.f("pk_monitoring_snoozes")),
    )
    op.create_table(
        "monitoring_watch_assignees",
        sa.Column("watch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_monitoring_watch_assignees_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["watch_id"],
            ["monitoring_watches.id"],
            name=op.f("fk_monitoring_watch_assignees_watch_id_monitoring_watches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("watch_id", "user_id", name=op.f("pk_monitoring_watch_assignees")),
    )


def downgrade() -> None:
    op.drop_table("monitoring_watch_assignees")
    op.drop_table("monitoring_snoozes")
    with op.batch_alter_table("monitoring_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_monitoring_alerts_institution_status")
        batch_op.drop_index("ix_monitoring_alerts_institution_created")

    op.drop_table("monitoring_alerts")
    op.drop_table("monitoring_watches")
    with op.batch_alter_table("monitoring_rules", schema=None) as batch_op:
        batch_op.drop_index("ix_monitoring_rules_institution_enabled")

    op.drop_table("monitoring_rules")
    op.drop_table("monitoring_rule_sets")
