"""records of each batch by indicator category

``ingest_batches.accepted_by_category``: the accepted values of a batch counted by the
category of their indicator (registry batches count under ``basic``), so the platform
statistics can show records collected by category without reading the lake. Batches
committed before this revision have an empty map.

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-27 22:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ingest_batches") as batch_op:
        batch_op.add_column(
            sa.Column("accepted_by_category", sa.JSON(), nullable=False, server_default="{}")
        )


def downgrade() -> None:
    with op.batch_alter_table("ingest_batches") as batch_op:
        batch_op.drop_column("accepted_by_category")
