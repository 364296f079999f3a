"""indexes on created_at for the statistics' month ranges

The hourly ``stats.refresh`` job recomputes the rolling months (the previous month and
this one) from ``query_records``, ``demands``, ``monitoring_alerts`` and
``instant_decisions`` with ``created_at >= <first day>`` (alerts' SMS by ``sms_at``). The
existing indexes lead with another column, so each of those queries scanned its whole table
every hour; with these they read two months. ``(entity_id, created_at)`` on alerts finds the
latest earlier alert of just the entities alerted in those months (the distinct count of
alerted entities) instead of grouping every alert ever (``python -m bench stats_refresh``).

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
    ("ix_query_records_created", "query_records", ["created_at"]),
    ("ix_demands_created", "demands", ["created_at"]),
    ("ix_monitoring_alerts_created", "monitoring_alerts", ["created_at"]),
    ("ix_monitoring_alerts_sms", "monitoring_alerts", ["sms_at"]),
    ("ix_monitoring_alerts_entity_created", "monitoring_alerts", ["entity_id", "created_at"]),
    ("ix_instant_decisions_created", "instant_decisions", ["created_at"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in INDEXES:
        op.drop_index(name, table_name=table)
