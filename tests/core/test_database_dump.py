"""Issue 8, item 2, acceptance: a dump of the database holds no plaintext ID number, mobile
number or legal representative's name.

A small city is seeded through the ordinary services and routes (the registry file with
legal representatives, enterprise and bank users with mobiles, a demand through the simple
flow with its one-time code, SMS handed to the gateway through the outbox with a delivery
receipt, consents, an objection to a personal value and its correction, an audit event
whose details name a number), then the WHOLE database is dumped — SQLite's ``iterdump``,
or every table's rows as text on PostgreSQL — and searched for each known value, as text,
as a JSON string and as the hex of its bytes (how a dump writes a BLOB)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from puhui.audit import service as audit
from puhui.core.masking import id_number_checks, masked
from puhui.ingest import service as ingest
from puhui.ingest.readers import REGISTRY_COLUMNS
from puhui.notifications import service as notifications
from puhui.notifications.channels import Receipt
from puhui.notifications.models import Message
from tests import factories
from tests.city import ID_A, MOBILE_A, city, drain  # noqa: F401 - the fixture is used by name


def _id_number(first17: str) -> str:
    """``first17`` completed with its right check character."""
    return next(first17 + c for c in "0123456789X" if id_number_checks(first17 + c))


REP_NAME, REP_ID = "欧阳明珠", _id_number("33020319850615123")
REP_NAME_2, REP_ID_2 = "司马长风", _id_number("33021219790302456")
CONTACT_NAME, CONTACT_NAME_2 = "诸葛云裳", "慕容秋水"
MOBILE_CONTACT = "13633334444"
MOBILE_SIMPLE = "13955554444"
MOBILE_CORRECTED = "13566667777"
MOBILE_IN_AUDIT = "18677778888"
MOBILE_REJECTED = "13812349999"
MOBILE_ATTACHED = "15912348888"
ALL = ["basic", "property", "financial", "operating", "positive", "negative", "credit_evaluation"]


def _registry_file(tmp: Path) -> tuple[Path, list[str]]:
    from puhui.entities import service as entities

    codes = [entities.make(f"91330212MA{n:07d}") for n in (9100001, 9100002)]
    rows = [
        [codes[0], "丁精密机械有限公司", "enterprise", "330212", "C", "34", "8000000",
         "2012-05-01", "active", REP_NAME, REP_ID],
        [codes[1], "戊电子商务有限公司", "enterprise", "330212", "F", "51", "1000000",
         "2019-09-09", "active", REP_NAME_2, REP_ID_2],
    ]  # fmt: skip
    path = tmp / "registry.csv"
    path.write_text(
        ",".join(REGISTRY_COLUMNS) + "\n" + "\n".join(",".join(r) for r in rows) + "\n",
        encoding="utf-8",
    )
    return path, codes


def _seed(city, tmp_path: Path) -> list[str]:  # noqa: F811
    """Seed the city; the USCCs of the registry file's entities."""
    c, h = city.client, city.h
    path, codes = _registry_file(tmp_path)
    out = ingest.ingest_path(
        city.factory, source_code="SAMR", path=path, actor=None, via="cli", settings=city.settings
    )
    assert out.status == "committed", out
    with city.factory() as s:
        assert ingest.get_batch(s, batch_id=out.batch_id).rows_accepted == 2
    # the simple flow: a one-time code by SMS, then the demand with a contact's name
    r = c.post("/api/v1/demands/simple/code", json={"mobile": MOBILE_SIMPLE})
    assert r.status_code == 202, r.text
    with city.factory() as s:
        body = s.query(Message.body).filter(Message.sent_to(MOBILE_SIMPLE)).one()[0]
    code = re.search(r"\d{6}", body).group(0)
    r = c.post(
        "/api/v1/demands/simple",
        json={
            "mobile": MOBILE_SIMPLE,
            "code": code,
            "uscc": codes[0],
            "amount": "300000",
            "contact_name": CONTACT_NAME,
        },
    )
    assert r.status_code == 201, r.text
    # a bank asks entity A for an authorization (an SMS to its mobile), A grants it
    r = c.post(
        "/api/v1/consents",
        json={
            "institution_id": city.banks["a"],
            "purposes": ["query"],
            "categories": ALL,
            "expires_at": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
        },
        headers=h("ent_a"),
    )
    assert r.status_code == 201, r.text
    # a demand over the API, sent with an Idempotency-Key: its answer is kept for replays
    r = c.post(
        "/api/v1/demands",
        json={
            "amount": "200000",
            "term_months": 12,
            "purpose": "采购原材料",
            "guarantee_type": "credit",
            "contact_name": CONTACT_NAME_2,
            "contact_mobile": MOBILE_CONTACT,
        },
        headers={**h("ent_a"), "Idempotency-Key": "dump-demand-1"},
    )
    assert r.status_code == 201 and r.json()["contact_mobile"] == MOBILE_CONTACT, r.text
    # a profile read by the bank (query record, audit event)
    r = c.get(f"/api/v1/entities/{city.a}/profile", headers=h("cm_a"))
    assert r.status_code == 200, r.text
    # an objection to the contact mobile the market regulator sent, and its correction
    r = c.post(
        "/api/v1/objections",
        json={
            "indicator": "BAS_CONTACT_MOBILE",
            "period": 202609,
            "reason": "这个号码已经停用",
        },
        headers=h("ent_a"),
    )
    assert r.status_code == 201, r.text
    objection = r.json()
    r = c.post(f"/api/v1/objections/{objection['id']}/route", json={}, headers=h("operator"))
    assert r.status_code == 200, r.text
    with city.factory.begin() as s:
        from puhui.core.policy import Role
        from puhui.ingest.models import DataSource

        dept = factories.institution(s, factories.KIND_FOR_ROLE[Role.DATA_STEWARD])
        s.query(DataSource).filter(DataSource.code == "SAMR").one().institution_id = dept.id
        city.users["steward"] = factories.user(s, Role.DATA_STEWARD, dept)
    r = c.post(
        f"/api/v1/objections/{objection['id']}/answer",
        json={
            "outcome": "corrected",
            "explanation": "已更正联系电话",
            "corrected_value": MOBILE_CORRECTED,
        },
        headers=h("steward"),
    )
    assert r.status_code == 200, r.text
    # every SMS handed to the gateway; a receipt naming a number; an audit event naming one
    drain(city.factory)
    with city.factory.begin() as s:
        sent = s.query(Message).filter(Message.sent_to(MOBILE_SIMPLE)).first()
        assert sent is not None and sent.status in {"sent", "delivered"}, sent.status
        notifications.record_receipts(
            s,
            gateway="log",
            receipts=[
                Receipt(gateway_ref="dump-1", stat="DELIVRD", destination=f"86{MOBILE_SIMPLE}")
            ],
        )
        audit.record(
            s,
            actor=None,
            username="cli",
            action="test.note",
            details={"note": f"called {MOBILE_IN_AUDIT} about {REP_ID}"},
        )
    drain(city.factory)
    return codes


def dump(conn: Connection) -> str:
    """Every row of every table, as text: SQLite's own dump, or each row as PostgreSQL
    prints a record."""
    if conn.dialect.name == "sqlite":
        return "\n".join(conn.connection.driver_connection.iterdump())
    tables = conn.execute(
        text(
            "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) "
            "FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        )
    ).scalars()
    out = []
    for name in tables:
        out.append(f"-- {name}")
        # names from the catalog, quoted by quote_ident
        out += conn.execute(text(f"SELECT t::text FROM {name} AS t")).scalars()
    return "\n".join(out)


def leaks(dumped: str, needles: list[str]) -> list[str]:
    """The needles found in the dump, in any of the forms a dump may write them."""
    lower = dumped.lower()
    found = []
    for needle in needles:
        forms = {needle, json.dumps(needle)[1:-1], needle.encode("utf-8").hex()}
        if any(form.lower() in lower for form in forms):
            found.append(needle)
    return found


@pytest.mark.usefixtures("city")
def test_a_dump_of_the_database_holds_no_plaintext_id_mobile_or_legal_rep_name(
    city,  # noqa: F811
    connection,
    tmp_path,
):
    codes = _seed(city, tmp_path)
    dumped = dump(connection)
    # the dump is the seeded database: names of enterprises are there, values encrypted
    for visible in ("丁精密机械有限公司", "甲制造有限公司", codes[1]):
        assert leaks(dumped, [visible]) == [visible]
    assert dumped.count("sm4:") >= 10
    needles = [
        ID_A,
        REP_ID,
        REP_ID_2,
        REP_NAME,
        REP_NAME_2,
        CONTACT_NAME,
        CONTACT_NAME_2,
        MOBILE_CONTACT,
        MOBILE_A,
        MOBILE_SIMPLE,
        MOBILE_CORRECTED,
        MOBILE_IN_AUDIT,
        "13700000001",  # ent_a's account
        "13900000001",  # cm_a's account
    ]
    assert leaks(dumped, needles) == []
    # and the services still read them back
    with city.factory() as s:
        from puhui.entities.models import Entity

        rep = s.query(Entity).filter(Entity.uscc == codes[0]).one()
        assert (rep.legal_rep_name, rep.legal_rep_id) == (REP_NAME, REP_ID)


def test_the_search_finds_a_planted_plaintext_value(city, connection):  # noqa: F811
    """The search above can fail: a number written in plain text is found."""
    connection.execute(
        text("UPDATE entities SET name = :n WHERE uscc = :u"),
        {"n": f"法人{REP_NAME}身份证{REP_ID}", "u": city.a},
    )
    assert leaks(dump(connection), [REP_ID, REP_NAME, MOBILE_SIMPLE]) == [REP_ID, REP_NAME]
    assert leaks("X'" + MOBILE_SIMPLE.encode().hex().upper() + "'", [MOBILE_SIMPLE])


def _lake_texts(lake_dir: Path) -> list[str]:
    """Every ``value_text`` of every Parquet file of the lake, superseded and compacted-away
    files included (what a copy of the directory holds, not what a reader sees)."""
    import pyarrow.parquet as pq

    out: list[str] = []
    for path in sorted(lake_dir.rglob("*.parquet")):
        column = pq.read_table(path, columns=["value_text"]).column("value_text")
        out += [v for v in column.to_pylist() if v is not None]
    return out


def _files_holding(root: Path, needles: list[str]) -> dict[str, list[str]]:
    """The needles whose UTF-8 bytes appear in some file under ``root``, by file."""
    found: dict[str, list[str]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        hits = [n for n in needles if n.encode("utf-8") in data]
        if hits:
            found[str(path.relative_to(root))] = hits
    return found


def test_the_lake_and_the_data_directory_hold_no_plaintext_id_or_mobile(
    city,  # noqa: F811
    tmp_path,
):
    """Issue 8, item 2: the contact mobile and the legal representative's ID number that a
    department sends as lake indicators, and a mobile corrected through an objection, are
    stored encrypted in the lake's Parquet files; no file of the data directory (lake,
    history index, snapshot, quality reports, objection attachments) holds them in clear;
    readers still see them."""
    from puhui.ingest.service import build_history_index, compact_lake

    _seed(city, tmp_path)
    settings = city.settings
    # a department's row rejected for a value holding a mobile: the report file masks it
    bad = tmp_path / "tax-bad.csv"
    bad.write_text(
        f"uscc,indicator,period,value\n{city.a},OPR_TAX_TOTAL_12M,2026-09,联系{MOBILE_REJECTED}\n",
        encoding="utf-8",
    )
    out = ingest.ingest_path(
        city.factory, source_code="TAX", path=bad, actor=None, via="cli", settings=settings
    )
    report = ingest.report_path(settings, out.batch_id).read_text(encoding="utf-8-sig")
    assert masked("mobile", MOBILE_REJECTED) in report and "wrong_type" in report
    # an objection's attachment: a letter with the enterprise's numbers in it
    r = city.client.post(
        "/api/v1/objections",
        json={"indicator": "BAS_LEGAL_REP_ID", "period": 202609, "reason": "身份证号有误"},
        headers=city.h("ent_a"),
    )
    assert r.status_code == 201, r.text
    objection_id = r.json()["id"]
    letter = f"%PDF-1.4 联系电话 {MOBILE_ATTACHED} 身份证 {ID_A}".encode()
    r = city.client.post(
        f"/api/v1/objections/{objection_id}/attachments",
        files={"file": ("证明.pdf", letter, "application/pdf")},
        headers=city.h("ent_a"),
    )
    assert r.status_code == 201, r.text
    compact_lake(settings=settings)  # rewritten files keep them sealed
    build_history_index(settings=settings)
    texts = _lake_texts(settings.lake_dir)
    sealed = [t for t in texts if t.startswith("sm4:")]
    # ID_A and MOBILE_A from the SAMR file, the correction: each at least once (compaction
    # keeps the old files until vacuum, so values may be there twice)
    assert len(sealed) >= 3, texts
    needles = [ID_A, MOBILE_A, MOBILE_CORRECTED, MOBILE_REJECTED, MOBILE_ATTACHED]
    assert [t for t in texts if any(n in t for n in needles)] == []
    assert _files_holding(settings.data_dir, needles) == {}
    # public text values stay in clear (filters and search read them)
    assert not any(t.startswith("sm4:") for t in texts if t in ("A", "active"))
    # and the readers decrypt: the bank sees the corrected mobile masked, the enterprise whole
    r = city.client.get(f"/api/v1/entities/{city.a}/profile", headers=city.h("cm_a"))
    assert r.status_code == 200, r.text
    values = {v["code"]: v for block in r.json()["categories"] for v in block["indicators"]}
    assert values["BAS_CONTACT_MOBILE"]["value"] == masked("mobile", MOBILE_CORRECTED)
    assert values["BAS_LEGAL_REP_ID"]["value"] == masked("id_number", ID_A)


def test_the_file_search_finds_a_plaintext_value_written_to_the_lake(city):  # noqa: F811
    """The search above can fail: a mobile written to the lake unsealed (as before this
    change) is found both in the Parquet values and in the files' bytes."""
    import polars as pl

    from puhui.core.lake import Lake

    lake = Lake(city.settings.lake_dir)
    lake.append_batch(
        pl.DataFrame(
            {
                "entity_id": [1],
                "indicator_id": [1],
                "period": [202609],
                "value_num": [None],
                "value_text": [MOBILE_IN_AUDIT],
                "source_id": [1],
            },
            schema_overrides={
                "entity_id": pl.Int32,
                "indicator_id": pl.Int16,
                "period": pl.Int32,
                "value_num": pl.Float64,
                "source_id": pl.Int16,
            },
        ),
        batch_id=999_999,
    )
    assert MOBILE_IN_AUDIT in _lake_texts(city.settings.lake_dir)
    holding = _files_holding(city.settings.data_dir, [MOBILE_IN_AUDIT])
    # the Parquet file, and the Delta log (its per-file statistics keep a column's min/max)
    assert any(p.endswith(".parquet") for p in holding), holding
    assert any(p.startswith("lake/_delta_log/") for p in holding), holding
