"""acquisition: marketing opt-outs

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 10:12:31.118204
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import puhui.core.orm

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "marketing_optouts",
        sa.Column("entity_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            puhui.core.orm.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["entity_id"], ["entities.id"], name=op.f("fk_marketing_optouts_entity_id_entities")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_marketing_optouts_user_id_users")
        ),
        sa.PrimaryKeyConstraint("entity_id", name=op.f("pk_marketing_optouts")),
    )
    state = op.create_table(
        "marketing_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketing_state")),
    )
    # the one row every opt-out change bumps (so writers only ever update it)
    op.bulk_insert(state, [{"id": 1, "version": 0, "token": ""}])


def downgrade() -> None:
    op.drop_table("marketing_state")
    op.drop_table("marketing_optouts")
