"""objections: disputes of data items with the 20-day deadline

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-27 19:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
