"""indexes on created_at for the statistics' month ranges

The hourly ``stats.refresh`` job recomputes the rolling months (the previous month and
this one) from ``query_records``, ``demands``, ``monitoring_alerts`` and
``instant_decisions`` with ``created_at >= <first day>``. The existing indexes lead with
another column, so each of those queries scanned its whole table every hour; with an index
on ``created_at`` they read two months (``python -m bench stats_refresh``).

Revision ID: 0027
Revises: 0026
Create Date: 2026-11-28 02:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_query_records_created", "query_records"),
    ("ix_demands_created", "demands"),
    ("ix_monitoring_alerts_created", "monitoring_alerts"),
    ("ix_instant_decisions_created", "instant_decisions"),
)


def upgrade() -> None:
    for name, table in INDEXES:
        op.create_index(name, table, ["created_at"])


def downgrade() -> None:
    for name, table in INDEXES:
        op.drop_index(name, table_name=table)
