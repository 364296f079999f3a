"""objection attachments stored encrypted

``objection_attachments.stored_name``: the random name of the attachment's encrypted file
under ``<data dir>/objections/`` (``core.security.sealed_files``). Attachments written
before this revision have none: their file is the plain one named by its SHA-256, served
as it is until ``puhui keys rotate`` encrypts it and records the name.

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-28 01:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("objection_attachments") as batch_op:
        batch_op.add_column(sa.Column("stored_name", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("objection_attachments") as batch_op:
        batch_op.drop_column("stored_name")
