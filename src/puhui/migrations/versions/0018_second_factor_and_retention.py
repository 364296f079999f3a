"""second factor for institution users and retention

Authenticators (``second_factors``, secret SM4-encrypted), single-use recovery codes and
the second-factor state of a session (``auth_sessions.pending``, ``second_factor_at``).
Retention of negative records needs no table: it writes lake batches (decision 0016).

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-27 19:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import puhui.core.orm

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = puhui.core.orm.UTCDateTime(timezone=True)


def _created_at() -> sa.Column[object]:
    return sa.Column(
        "created_at", _TS, server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "second_factors",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("secret", sa.String(), nullable=False),
        sa.Column("confirmed_at", _TS, nullable=True),
        sa.Column("last_step", sa.Integer(), nullable=True),
        _created_at(),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_second_factors_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_second_factors")),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_digest", sa.String(length=64), nullable=False),
        sa.Column("used_at", _TS, nullable=True),
        _created_at(),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_recovery_codes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_codes")),
    )
    with op.batch_alter_table("recovery_codes", schema=None) as batch_op:
        batch_op.create_index("ix_recovery_codes_user_id", ["user_id"], unique=False)
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pending", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("second_factor_at", _TS, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.drop_column("second_factor_at")
        batch_op.drop_column("pending")
    with op.batch_alter_table("recovery_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_recovery_codes_user_id")
    op.drop_table("recovery_codes")
    op.drop_table("second_factors")
