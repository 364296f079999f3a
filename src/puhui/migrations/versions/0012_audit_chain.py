"""security: tamper-evident audit chain and signed checkpoints; encrypted mobile numbers

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 18:00:00

Existing audit events are chained in id order (seq 1, 2, … in that order), the head row
is set to the last of them, and triggers make events, checkpoints and signing keys
append-only (UPDATE and DELETE refused; TRUNCATE too on PostgreSQL) and the head row
undeletable.

Mobile numbers (``users.mobile``, ``demands.contact_mobile``) are encrypted in place with
SM4-GCM (see ``puhui.core.security.fields``) and users get an HMAC-SM3 blind index of theirs.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import puhui.core.orm
from puhui.audit import chain
from puhui.core.security import fields

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = puhui.core.orm.UTCDateTime(timezone=True)
_CHUNK = 5000
APPEND_ONLY = ("audit_events", "audit_checkpoints", "audit_signing_keys")

_events = sa.table(
    "audit_events",
    sa.column("id", _ID),
    sa.column("seq", _ID),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
    sa.column("occurred_at", _TS),
    *(
        sa.column(name, sa.JSON() if name == "details" else sa.String())
        for name in chain.RECORD_FIELDS
        if name not in {"seq", "occurred_at"}
    ),
)


def _chain_existing_rows(bind: sa.Connection) -> tuple[int, str]:
    """Chain the rows already there in id order; the new head's (seq, hash)."""
    seq, prev_hash, after_id = 0, chain.GENESIS_HASH, None
    names = [n for n in chain.RECORD_FIELDS if n != "seq"]
    update = (
        _events.update()
        .where(_events.c.id == sa.bindparam("row_id"))
        .values(
            seq=sa.bindparam("new_seq"),
            prev_hash=sa.bindparam("new_prev"),
            hash=sa.bindparam("new_hash"),
        )
    )
    while True:
        stmt = sa.select(_events.c.id, *(_events.c[n] for n in names)).order_by(_events.c.id)
        if after_id is not None:
            stmt = stmt.where(_events.c.id > after_id)
        rows = bind.execute(stmt.limit(_CHUNK)).all()
        if not rows:
            return seq, prev_hash
        params = []
        for row in rows:
            seq += 1
            fields = {n: getattr(row, n) for n in names} | {"seq": seq}
            digest = chain.link(prev_hash, chain.record_body(fields))
            params.append(
                {"row_id": row.id, "new_seq": seq, "new_prev": prev_hash, "new_hash": digest}
            )
            prev_hash = digest
        bind.execute(update, params)
        after_id = rows[-1].id


def _park_referencing_rows(bind: sa.Connection) -> list[str]:
    """SQLite only: move aside the rows of the tables whose foreign keys reference
    audit_events (query_records), and return those tables.

    Rebuilding audit_events (what SQLite needs for NOT NULL and UNIQUE) drops the old table,
    and with foreign keys on, that drop counts every referencing row as a violation that
    no later insert takes back; a migration runs in a transaction, where foreign keys
    cannot be switched off. So the referencing rows leave while the table is rebuilt and
    come back afterwards, unchanged."""
    tables = [
        name
        for (name,) in bind.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
        if any(
            fk[2] == "audit_events"
            for fk in bind.exec_driver_sql(f'PRAGMA foreign_key_list("{name}")')
        )
    ]
    for name in tables:
        # table names read from sqlite_master, not from input
        bind.exec_driver_sql(f'CREATE TEMP TABLE "_park_{name}" AS SELECT * FROM "{name}"')  # noqa: S608
        bind.exec_driver_sql(f'DELETE FROM "{name}"')  # noqa: S608
    return tables


def _unpark_rows(bind: sa.Connection, tables: list[str]) -> None:
    for name in tables:
        bind.exec_driver_sql(f'INSERT INTO "{name}" SELECT * FROM "_park_{name}"')  # noqa: S608
        bind.exec_driver_sql(f'DROP TABLE "_park_{name}"')


ENCRYPTED = (
    # table, column, purpose (associated data), blind index column
    ("users", "mobile", "users.mobile", "mobile_bidx"),
    ("demands", "contact_mobile", "demands.contact_mobile", None),
)


def _recode(bind: sa.Connection, *, encrypt: bool) -> None:
    """Encrypt (or, going down, decrypt) the sensitive columns in place, a chunk at a time."""
    for table_name, column, purpose, bidx in ENCRYPTED:
        cols: list[sa.ColumnClause[object]] = [
            sa.column("id", sa.Integer()),
            sa.column(column, sa.String()),
        ]
        if bidx:
            cols.append(sa.column(bidx, sa.String()))
        table = sa.table(table_name, *cols)
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
            for row in rows:
                stored = row[1]
                is_encrypted = stored.startswith(f"{fields.PREFIX}:")
                if encrypt and not is_encrypted:
                    value: dict[str, str | None] = {"new": fields.encrypt(purpose, stored)}
                    if bidx:
                        value["bidx"] = fields.blind_index(purpose, stored)
                elif not encrypt and is_encrypted:
                    value = {"new": fields.decrypt(purpose, stored)}
                else:
                    continue
                params.append({"row_id": row.id, **value})
            if not params:
                continue
            values: dict[str, sa.BindParameter[str]] = {column: sa.bindparam("new")}
            if bidx and encrypt:
                values[bidx] = sa.bindparam("bidx")
            bind.execute(
                table.update().where(table.c.id == sa.bindparam("row_id")).values(**values),
                params,
            )


def _sqlite_triggers() -> list[str]:
    statements = []
    for table in APPEND_ONLY:
        for operation in ("UPDATE", "DELETE"):
            statements.append(
                f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {operation} refused'); END"
            )
    statements.append(
        "CREATE TRIGGER audit_chain_head_no_delete BEFORE DELETE ON audit_chain_head "
        "BEGIN SELECT RAISE(ABORT, 'audit_chain_head is permanent: DELETE refused'); END"
    )
    return statements


_PG_FUNCTION = """
CREATE FUNCTION puhui_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def _postgres_triggers() -> list[str]:
    statements = [_PG_FUNCTION]
    for table in APPEND_ONLY:
        statements += [
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION puhui_audit_append_only()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION puhui_audit_append_only()",
        ]
    statements += [
        "CREATE TRIGGER audit_chain_head_no_delete BEFORE DELETE ON audit_chain_head "
        "FOR EACH ROW EXECUTE FUNCTION puhui_audit_append_only()",
        "CREATE TRIGGER audit_chain_head_no_truncate BEFORE TRUNCATE ON audit_chain_head "
        "FOR EACH STATEMENT EXECUTE FUNCTION puhui_audit_append_only()",
    ]
    return statements


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    op.create_table(
        "audit_signing_keys",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("public_key_pem", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_audit_signing_keys")),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("seq", _ID, nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("signed_at", _TS, nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["audit_signing_keys.key_id"],
            name=op.f("fk_audit_checkpoints_key_id_audit_signing_keys"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
        sa.UniqueConstraint("seq", name=op.f("uq_audit_checkpoints_seq")),
    )
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", _ID, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_chain_head_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", _ID, nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))

    seq, head_hash = _chain_existing_rows(bind)

    parked = _park_referencing_rows(bind) if sqlite else []
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        for name, type_ in (("seq", _ID), ("prev_hash", sa.String(64)), ("hash", sa.String(64))):
            batch_op.alter_column(name, existing_type=type_, nullable=False)
        batch_op.create_unique_constraint(op.f("uq_audit_events_seq"), ["seq"])
    _unpark_rows(bind, parked)

    head = sa.table(
        "audit_chain_head",
        sa.column("id", sa.Integer()),
        sa.column("seq", _ID),
        sa.column("hash", sa.String()),
        sa.column("updated_at", _TS),
    )
    op.execute(
        head.insert().values(id=1, seq=seq, hash=head_hash, updated_at=puhui.core.orm.utcnow())
    )
    for statement in _sqlite_triggers() if sqlite else _postgres_triggers():
        op.execute(statement)

    op.add_column("users", sa.Column("mobile_bidx", sa.String(length=64), nullable=True))
    op.create_index("ix_users_mobile_bidx", "users", ["mobile_bidx"], unique=False)
    if not sqlite:
        # ciphertexts are longer than the numbers; SQLite does not enforce declared lengths
        op.alter_column("users", "mobile", existing_type=sa.String(20), type_=sa.String())
        op.alter_column("demands", "contact_mobile", existing_type=sa.String(20), type_=sa.String())
    _recode(bind, encrypt=True)


def downgrade() -> None:
    bind = op.get_bind()
    _recode(bind, encrypt=False)
    if bind.dialect.name != "sqlite":
        op.alter_column("users", "mobile", existing_type=sa.String(), type_=sa.String(20))
        op.alter_column("demands", "contact_mobile", existing_type=sa.String(), type_=sa.String(20))
    op.drop_index("ix_users_mobile_bidx", table_name="users")
    op.drop_column("users", "mobile_bidx")
    if bind.dialect.name == "sqlite":
        for table in APPEND_ONLY:
            for operation in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{operation}")
        op.execute("DROP TRIGGER IF EXISTS audit_chain_head_no_delete")
    else:
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP TRIGGER IF EXISTS audit_chain_head_no_delete ON audit_chain_head")
        op.execute("DROP TRIGGER IF EXISTS audit_chain_head_no_truncate ON audit_chain_head")
        op.execute("DROP FUNCTION IF EXISTS puhui_audit_append_only()")
    parked = _park_referencing_rows(bind) if bind.dialect.name == "sqlite" else []
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("uq_audit_events_seq"), type_="unique")
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("seq")
    _unpark_rows(bind, parked)
    op.drop_table("audit_chain_head")
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_signing_keys")
