"""scoring: bank models, versions, training runs and batch scores

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 18:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import puhui.core.orm

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scoring_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            puhui.core.orm.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_scoring_models_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_scoring_models_institution_id_institutions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scoring_models")),
        sa.UniqueConstraint(
            "institution_id", "name", name=op.f("uq_scoring_models_institution_id_name")
        ),
    )
    op.create_table(
        "scoring_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=12), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=True),
        sa.Column("binning", sa.JSON(), nullable=True),
        sa.Column("population", sa.JSON(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("submitted_by", sa.Integer(), nullable=True),
        sa.Column("submitted_at", puhui.core.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", puhui.core.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.String(length=300), nullable=False),
        sa.Column(
            "created_at",
            puhui.core.orm.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_scoring_versions_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["users.id"], name=op.f("fk_scoring_versions_decided_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["scoring_models.id"],
            name=op.f("fk_scoring_versions_model_id_scoring_models"),
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by"], ["users.id"], name=op.f("fk_scoring_versions_submitted_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scoring_versions")),
        sa.UniqueConstraint("model_id", "number", name=op.f("uq_scoring_versions_model_id_number")),
    )
    op.create_table(
        "scoring_batch_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("snapshot_version", sa.Integer(), nullable=True),
        sa.Column("n_scored", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=300), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("started_at", puhui.core.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", puhui.core.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            puhui.core.orm.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_scoring_batch_runs_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["scoring_versions.id"],
            name=op.f("fk_scoring_batch_runs_version_id_scoring_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scoring_batch_runs")),
    )
    op.create_index(
        "ix_scoring_batch_runs_version", "scoring_batch_runs", ["version_id"], unique=False
    )
    op.create_table(
        "scoring_training_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("sample", sa.JSON(), nullable=False),
        sa.Column("n_rows", sa.Integer(), nullable=False),
        sa.Column("n_matched", sa.Integer(), nullable=False),
        sa.Column("n_bad", sa.Integer(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("version_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("started_at", puhui.core.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", puhui.core.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            puhui.core.orm.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_scoring_training_runs_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["scoring_models.id"],
            name=op.f("fk_scoring_training_runs_model_id_scoring_models"),
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["scoring_versions.id"],
            name=op.f("fk_scoring_training_runs_version_id_scoring_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scoring_training_runs")),
    )
    op.create_index(
        "ix_scoring_training_runs_model", "scoring_training_runs", ["model_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_scoring_training_runs_model", table_name="scoring_training_runs")
    op.drop_table("scoring_training_runs")
    op.drop_index("ix_scoring_batch_runs_version", table_name="scoring_batch_runs")
    op.drop_table("scoring_batch_runs")
    op.drop_table("scoring_versions")
    op.drop_table("scoring_models")
