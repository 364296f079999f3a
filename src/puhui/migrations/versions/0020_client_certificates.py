"""platform CA and client certificates bound to API keys (reserved; filled by its issue)

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-27 21:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
