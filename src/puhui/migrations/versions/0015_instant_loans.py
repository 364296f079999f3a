"""instant loans: decision policies and decisions

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-27 18:25:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import puhui.core.orm

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "decision_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("score_source", sa.String(length=10), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=True),
        sa.Column("approve_min", sa.Float(), nullable=False),
        sa.Column("refer_min", sa.Float(), nullable=False),
        sa.Column("bands", sa.JSON(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            puhui.core.orm.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_decision_policies_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_decision_policies_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_decision_policies_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decision_policies")),
        sa.UniqueConstraint(
            "product_id", "version", name=op.f("uq_decision_policies_product_id_version")
        ),
    )
    op.create_index(
        "ix_decision_policies_institution", "decision_policies", ["institution_id"], unique=False
    )
    op.create_table(
        "instant_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("consent_id", sa.Integer(), nullable=True),
        sa.Column(
            "requested_fen", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("limit_fen", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("rate_bp", sa.Integer(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("rule_hits", sa.JSON(), nullable=False),
        sa.Column("snapshot_version", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            puhui.core.orm.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["consent_id"], ["consents.id"], name=op.f("fk_instant_decisions_consent_id_consents")
        ),
        sa.ForeignKeyConstraint(
            ["entity_id"], ["entities.id"], name=op.f("fk_instant_decisions_entity_id_entities")
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_instant_decisions_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["decision_policies.id"],
            name=op.f("fk_instant_decisions_policy_id_decision_policies"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_instant_decisions_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_instant_decisions_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instant_decisions")),
    )
    op.create_index(
        "ix_instant_decisions_entity", "instant_decisions", ["entity_id", "id"], unique=False
    )
    op.create_index(
        "ix_instant_decisions_institution",
        "instant_decisions",
        ["institution_id", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_instant_decisions_institution", table_name="instant_decisions")
    op.drop_index("ix_instant_decisions_entity", table_name="instant_decisions")
    op.drop_table("instant_decisions")
    op.drop_index("ix_decision_policies_institution", table_name="decision_policies")
    op.drop_table("decision_policies")
