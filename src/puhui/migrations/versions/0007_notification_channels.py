"""notification channels: inbox, SMS over SMPP, e-mail; delivery state, parts, receipts

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import puhui.core.orm

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = puhui.core.orm.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.alter_column(
            "recipient", existing_type=sa.String(length=64), type_=sa.String(length=254)
        )
        batch_op.add_column(sa.Column("template", sa.String(length=80), nullable=True))
        batch_op.add_column(
            sa.Column("locale", sa.String(length=8), nullable=False, server_default="zh_CN")
        )
        batch_op.add_column(
            sa.Column("subject", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("next_attempt_at", _TS, nullable=True))
        batch_op.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("claim_token", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("submitted_at", _TS, nullable=True))
        batch_op.add_column(sa.Column("delivered_at", _TS, nullable=True))
        batch_op.add_column(sa.Column("read_at", _TS, nullable=True))
        batch_op.add_column(sa.Column("dedupe_key", sa.String(length=200), nullable=True))
        batch_op.create_unique_constraint(op.f("uq_messages_dedupe_key"), ["dedupe_key"])
        batch_op.create_index("ix_messages_inbox", ["user_id", "channel", "read_at"], unique=False)
        batch_op.create_index(
            "ix_messages_recipient_submitted", ["recipient", "submitted_at"], unique=False
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        for name in ("locale", "subject", "attempts"):
            batch_op.alter_column(name, server_default=None)

    op.create_table(
        "message_parts",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("message_id", _ID, nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("gateway", sa.String(length=16), nullable=False),
        sa.Column("gateway_ref", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("receipt_stat", sa.String(length=8), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_parts_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_parts")),
        sa.UniqueConstraint(
            "gateway", "gateway_ref", name=op.f("uq_message_parts_gateway_gateway_ref")
        ),
    )
    with op.batch_alter_table("message_parts", schema=None) as batch_op:
        batch_op.create_index("ix_message_parts_message_id", ["message_id"], unique=False)

    op.create_table(
        "delivery_receipts",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("gateway", sa.String(length=16), nullable=False),
        sa.Column("gateway_ref", sa.String(length=64), nullable=False),
        sa.Column("message_id", _ID, nullable=True),
        sa.Column("stat", sa.String(length=8), nullable=False),
        sa.Column("error_code", sa.String(length=8), nullable=False),
        sa.Column("done_at", _TS, nullable=True),
        sa.Column("destination", sa.String(length=32), nullable=False),
        sa.Column("user_reference", sa.Integer(), nullable=True),
        sa.Column("text", sa.String(length=300), nullable=False),
        sa.Column("created_at", _TS, server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_delivery_receipts_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_receipts")),
        sa.UniqueConstraint(
            "gateway",
            "gateway_ref",
            "stat",
            name=op.f("uq_delivery_receipts_gateway_gateway_ref_stat"),
        ),
    )
    with op.batch_alter_table("delivery_receipts", schema=None) as batch_op:
        batch_op.create_index("ix_delivery_receipts_message_id", ["message_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("delivery_receipts", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_receipts_message_id")
    op.drop_table("delivery_receipts")
    with op.batch_alter_table("message_parts", schema=None) as batch_op:
        batch_op.drop_index("ix_message_parts_message_id")
    op.drop_table("message_parts")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_recipient_submitted")
        batch_op.drop_index("ix_messages_inbox")
        batch_op.drop_constraint(op.f("uq_messages_dedupe_key"), type_="unique")
        for name in (
            "dedupe_key",
            "read_at",
            "delivered_at",
            "submitted_at",
            "claim_token",
            "last_error",
            "next_attempt_at",
            "attempts",
            "subject",
            "locale",
            "template",
        ):
            batch_op.drop_column(name)
        batch_op.alter_column(
            "recipient", existing_type=sa.String(length=254), type_=sa.String(length=64)
        )
