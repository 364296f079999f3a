"""bank service quality, data quality and coverage (reserved; filled by its issue)

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-27 21:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # coverage of inclusive finance counts active entities by district and industry
    # section from this index alone (a covering index scan, not the 1.38 M-row table)
    op.create_index("ix_entities_coverage", "entities", ["status", "district", "industry_section"])


def downgrade() -> None:
    op.drop_index("ix_entities_coverage", table_name="entities")
