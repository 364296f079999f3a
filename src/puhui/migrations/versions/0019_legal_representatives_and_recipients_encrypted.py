"""legal representatives' data and message recipients encrypted

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-27 21:05:00

Encrypted in place with SM4-GCM under the keyring's active data key (see
``puhui.core.security.fields``), a chunk of rows per statement:

- ``entities.legal_rep_name`` and ``entities.legal_rep_id``, with an HMAC-SM3 blind index
  of the ID number (``legal_rep_id_bidx``);
- ``messages.recipient`` (mobile numbers and e-mail addresses), with a blind index
  (``recipient_bidx``) that replaces the recipient in the index the SMS rate limit reads;
- ``delivery_receipts.destination`` (the number a receipt names);
- ``demands.contact_name`` (the person to call back);
- ``objections.value`` and ``objections.corrected_value`` (a disputed value may be an ID
  or a mobile number);
- ``idempotency_keys.body`` (a stored first answer may carry a demand's contact mobile):
  bytes before, the encrypted text of their base64 after.

Going down decrypts them again.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from puhui.core.security import fields

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHUNK = 5000

# table, column, purpose (associated data), blind index column, length before
ENCRYPTED: tuple[tuple[str, str, str, str | None, int], ...] = (
    ("entities", "legal_rep_name", "entities.legal_rep_name", None, 50),
    ("entities", "legal_rep_id", "entities.legal_rep_id", "legal_rep_id_bidx", 18),
    ("messages", "recipient", "messages.recipient", "recipient_bidx", 254),
    ("delivery_receipts", "destination", "delivery_receipts.destination", None, 32),
    ("demands", "contact_name", "demands.contact_name", None, 50),
    ("objections", "value", "objections.value", None, 500),
    ("objections", "corrected_value", "objections.corrected_value", None, 500),
)


def _recode(bind: sa.Connection, *, encrypt: bool) -> None:
    """Encrypt (or, going down, decrypt) the columns in place, a chunk of rows at a time."""
    keyring = fields.current()
    for table_name, column, purpose, bidx, _ in ENCRYPTED:
        cols: list[sa.ColumnClause[object]] = [
            sa.column("id", sa.Integer()),
            sa.column(column, sa.String()),
        ]
        if bidx:
            cols.append(sa.column(bidx, sa.String()))
        table = sa.table(table_name, *cols)
        values: dict[str, sa.BindParameter[str]] = {column: sa.bindparam("new")}
        if bidx and encrypt:
            values[bidx] = sa.bindparam("bidx")
        statement = table.update().where(table.c.id == sa.bindparam("row_id")).values(**values)
        after = 0
        while True:
            rows = bind.execute(
                sa.select(table.c.id, table.c[column])
                .where(table.c.id > after, table.c[column].is_not(None))
                .order_by(table.c.id)
                .limit(_CHUNK)
            ).all()
            if not rows:
                break
            after = rows[-1].id
            params: list[dict[str, object]] = []
            for row_id, stored in rows:
                is_encrypted = keyring.key_of(stored) is not None
                if encrypt and not is_encrypted:
                    params.append(
                        {
                            "row_id": row_id,
                            "new": keyring.encrypt(purpose, stored),
                            "bidx": keyring.blind_index(purpose, stored.strip())
                            if stored
                            else None,
                        }
                    )
                elif not encrypt and is_encrypted:
                    params.append({"row_id": row_id, "new": fields.decrypt(purpose, stored)})
            if params:
                bind.execute(statement, params)


_IDEMPOTENCY = "idempotency_keys.body"


def _reseal_idempotency_bodies(bind: sa.Connection, *, encrypt: bool) -> None:
    """Move ``idempotency_keys.body`` to a column of the other type (text when encrypting,
    bytes when decrypting), a chunk of rows at a time, and put it in the old one's place."""
    keyring = fields.current()
    new_type: sa.String | sa.LargeBinary = sa.String() if encrypt else sa.LargeBinary()
    op.add_column("idempotency_keys", sa.Column("sealed", new_type, nullable=True))
    table = sa.table(
        "idempotency_keys",
        sa.column("id", sa.Integer()),
        sa.column("body", sa.LargeBinary() if encrypt else sa.String()),
        sa.column("sealed", new_type),
    )
    statement = (
        table.update()
        .where(table.c.id == sa.bindparam("row_id"))
        .values(sealed=sa.bindparam("new"))
    )
    after = 0
    while True:
        rows = bind.execute(
            sa.select(table.c.id, table.c.body)
            .where(table.c.id > after)
            .order_by(table.c.id)
            .limit(_CHUNK)
        ).all()
        if not rows:
            break
        after = rows[-1].id
        params: list[dict[str, object]] = []
        for row_id, body in rows:
            if encrypt:
                text = base64.b64encode(bytes(body)).decode("ascii")
                params.append({"row_id": row_id, "new": keyring.encrypt(_IDEMPOTENCY, text)})
            else:
                params.append(
                    {
                        "row_id": row_id,
                        "new": base64.b64decode(fields.decrypt(_IDEMPOTENCY, body)),
                    }
                )
        bind.execute(statement, params)
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_column("body")
        batch.alter_column("sealed", new_column_name="body", existing_type=new_type, nullable=False)


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    op.add_column("entities", sa.Column("legal_rep_id_bidx", sa.String(length=64), nullable=True))
    op.create_index(
        "ix_entities_legal_rep_id_bidx", "entities", ["legal_rep_id_bidx"], unique=False
    )
    op.add_column("messages", sa.Column("recipient_bidx", sa.String(length=64), nullable=True))
    op.drop_index("ix_messages_recipient_submitted", table_name="messages")
    op.create_index(
        "ix_messages_recipient_bidx_submitted",
        "messages",
        ["recipient_bidx", "submitted_at"],
        unique=False,
    )
    if not sqlite:
        # ciphertexts are longer than the values; SQLite does not enforce declared lengths
        for table_name, column, _, _, length in ENCRYPTED:
            op.alter_column(table_name, column, existing_type=sa.String(length), type_=sa.String())
    _recode(bind, encrypt=True)
    _reseal_idempotency_bodies(bind, encrypt=True)


def downgrade() -> None:
    bind = op.get_bind()
    _reseal_idempotency_bodies(bind, encrypt=False)
    _recode(bind, encrypt=False)
    if bind.dialect.name != "sqlite":
        for table_name, column, _, _, length in ENCRYPTED:
            op.alter_column(table_name, column, existing_type=sa.String(), type_=sa.String(length))
    op.drop_index("ix_messages_recipient_bidx_submitted", table_name="messages")
    op.create_index(
        "ix_messages_recipient_submitted", "messages", ["recipient", "submitted_at"], unique=False
    )
    op.drop_column("messages", "recipient_bidx")
    op.drop_index("ix_entities_legal_rep_id_bidx", table_name="entities")
    op.drop_column("entities", "legal_rep_id_bidx")
