"""platform CA and client certificates bound to API keys

``client_certificates`` records every certificate the platform CA issued (the CA's key is
on disk, encrypted, never in the database); ``api_keys.client_certificate_id`` binds a
key to one of them; ``institutions.require_client_cert`` makes every key of an
institution need a bound certificate (decision 0018).

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-27 21:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import puhui.core.orm

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = puhui.core.orm.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "client_certificates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(length=40), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("not_before", _TS, nullable=False),
        sa.Column("not_after", _TS, nullable=False),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.Column("pem", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_client_certificates_institution_id_institutions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_certificates")),
        sa.UniqueConstraint("serial", name=op.f("uq_client_certificates_serial")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_client_certificates_fingerprint")),
    )
    with op.batch_alter_table("client_certificates", schema=None) as batch_op:
        batch_op.create_index(
            "ix_client_certificates_institution_id", ["institution_id"], unique=False
        )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client_certificate_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_api_keys_client_certificate_id_client_certificates"),
            "client_certificates",
            ["client_certificate_id"],
            ["id"],
        )
    with op.batch_alter_table("institutions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "require_client_cert", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("institutions", schema=None) as batch_op:
        batch_op.drop_column("require_client_cert")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_api_keys_client_certificate_id_client_certificates"),
            type_="foreignkey",
        )
        batch_op.drop_column("client_certificate_id")
    with op.batch_alter_table("client_certificates", schema=None) as batch_op:
        batch_op.drop_index("ix_client_certificates_institution_id")
    op.drop_table("client_certificates")
