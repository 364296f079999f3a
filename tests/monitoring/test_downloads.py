"""Batch downloads: who is included (watchlist and live download authorization, revocation
at once), masking, the daily row quota (refused whole, concurrent takers), the signed and
encrypted package (round trip, tampering anywhere fails), re-fetch, the CLI, permissions."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from typer.testing import CliRunner

from puhui.config import get_settings
from puhui.consent.models import GRANTED, REVOKED, Consent, QueryRecord
from puhui.core.orm import utcnow
from puhui.core.policy import InstitutionKind, Role
from puhui.core.security.sm import Sm2PrivateKey
from puhui.monitoring import downloads, package, repository
from puhui.monitoring.errors import (
    DownloadExpired,
    DownloadQuotaExceeded,
    InvalidMonitoringInput,
    NothingToDownload,
)
from puhui.monitoring.models import Download, DownloadQuota
from puhui.monitoring.schemas import DownloadCreate, PeriodRange
from tests import factories
from tests.monitoring.helpers import build

CATEGORIES = ["basic", "property", "financial", "operating", "positive", "negative"]
TAX = "OPR_TAX_ARREARS"
NAME = "BAS_LEGAL_REP_NAME"  # personal: masked in downloads
CAPITAL = "BAS_REG_CAPITAL"


def grant_download(session, institution_id: int, entity_id: int, categories=None) -> int:
    now = utcnow()
    consent = Consent(
        entity_id=entity_id,
        institution_id=institution_id,
        purposes=["download"],
        categories=categories or CATEGORIES,
        starts_at=now - timedelta(days=1),
        expires_at=now + timedelta(days=365),
        status=GRANTED,
    )
    session.add(consent)
    session.flush()
    return consent.id


def revoke(session, consent_id: int) -> None:
    consent = session.get(Consent, consent_id)
    consent.status = REVOKED
    consent.revoked_at = utcnow()
    session.flush()


def write(session, world, rows) -> None:
    """(entity id, code, period, number, text) rows as one lake batch."""
    world.next_batch += 1
    frame = pl.DataFrame(
        {
            "entity_id": [r[0] for r in rows],
            "indicator_id": [world.indicator(session, r[1]) for r in rows],
            "period": [r[2] for r in rows],
            "value_num": [r[3] for r in rows],
            "value_text": [r[4] for r in rows],
            "batch_id": [world.next_batch] * len(rows),
            "source_id": [1] * len(rows),
        },
        schema={
            "entity_id": pl.Int32,
            "indicator_id": pl.Int16,
            "period": pl.Int32,
            "value_num": pl.Float64,
            "value_text": pl.String,
            "batch_id": pl.Int64,
            "source_id": pl.Int16,
        },
    )
    world.lake.append_batch(frame, world.next_batch)


@pytest.fixture
def world(session, tmp_path):
    """Three watched entities; the first two gave the bank a download authorization."""
    w = build(session, tmp_path / "lake", n=3, consented=0)
    w.downloads = {e: grant_download(session, w.bank.id, e) for e in w.ids[:2]}
    rows = []
    for e in w.ids:
        for period in (202401, 202402, 202403):
            rows.append((e, TAX, period, float(period % 100) * 10, None))
        rows.append((e, NAME, 202401, None, "张三丰"))
        rows.append((e, CAPITAL, 202401, 1_000_000.0, None))
    write(session, w, rows)
    return w


@pytest.fixture
def actor(session, world):
    from puhui.core.policy import Actor

    return Actor(
        user_id=world.manager.id,
        username=world.manager.username,
        role=Role.RISK_MANAGER,
        institution_id=world.bank.id,
        institution_kind=InstitutionKind(world.bank.kind),
    )


def request(**kw) -> DownloadCreate:
    body = {"indicators": [TAX, NAME], "periods": {"from": 202401, "to": 202402}, **kw}
    return DownloadCreate.model_validate(body)


def platform_keys():
    return [downloads.signer(get_settings()).public_key()]


def open_rows(created) -> tuple[package.Opened, pl.DataFrame]:
    opened = package.open_package(created.download.package, created.key, platform_keys())
    reader = pl.read_parquet if opened.data_name.endswith("parquet") else pl.read_csv
    return opened, reader(io.BytesIO(opened.data))


class TestCreate:
    def test_happy_path_round_trips_masks_and_records(self, session, world, actor):
        created = downloads.create(session, actor=actor, data=request(), lake=world.lake)
        row = created.download
        assert (row.entity_count, row.row_count) == (2, 6)  # 2 entities × (2 tax + 1 name)
        assert [s.model_dump()["reason"] for s in created.skipped] == ["none"]
        assert created.skipped[0].uscc == world.usccs[2]
        opened, frame = open_rows(created)
        assert opened.manifest["row_count"] == 6
        assert [e["uscc"] for e in opened.inner["entities"]] == world.usccs[:2]
        assert set(frame["uscc"]) == set(world.usccs[:2])
        tax = frame.filter(pl.col("indicator") == TAX).sort(["uscc", "period"])
        assert tax["period"].to_list() == [202401, 202402] * 2
        assert tax["value_num"].to_list() == [10.0, 20.0] * 2
        name = frame.filter(pl.col("indicator") == NAME)
        assert name["masked"].to_list() == [True, True]
        assert "张三丰" not in name["value_text"].to_list()
        assert CAPITAL not in set(frame["indicator"])  # not chosen
        records = session.scalars(
            select(QueryRecord).where(QueryRecord.kind == "download").order_by(QueryRecord.id)
        ).all()
        assert sorted(r.entity_id for r in records) == sorted(world.ids[:2])
        assert all(
            r.purpose == "download" and r.details["download"] == row.public_id for r in records
        )
        assert {r.details["rows"] for r in records} == {3}
        assert (
            repository.download_quota_used(
                session, world.bank.id, utcnow().astimezone(downloads.SHANGHAI).date()
            )
            == 6
        )

    def test_a_retracted_value_is_not_in_the_package(self, session, world, actor):
        """The retention job supersedes an expired negative record with an empty value:
        the package leaves the row out (the profile and the snapshot do likewise)."""
        write(session, world, [(world.ids[0], TAX, 202401, None, None)])
        created = downloads.create(
            session, actor=actor, data=request(indicators=[TAX]), lake=world.lake
        )
        _, frame = open_rows(created)
        first = frame.filter(pl.col("uscc") == world.usccs[0])
        assert first["period"].to_list() == [202402]
        assert frame.filter(pl.col("uscc") == world.usccs[1]).height == 2
        assert created.download.row_count == 3

    def test_a_value_under_objection_is_flagged_in_the_package(self, session, world, actor):
        from puhui.objections.models import Objection

        now = utcnow()
        session.add(
            Objection(
                entity_id=world.ids[0], indicator_id=world.indicator(session, TAX),
                period=202402, batch_id=1, reason="数额有误", status="submitted",
                submitted_at=now, due_at=now + timedelta(days=20),
            )
        )  # fmt: skip
        session.flush()
        created = downloads.create(
            session, actor=actor, data=request(indicators=[TAX]), lake=world.lake
        )
        _, frame = open_rows(created)
        flagged = frame.filter(pl.col("under_objection"))
        assert flagged.select("uscc", "period").rows() == [(world.usccs[0], 202402)]
        assert frame.height == 4

    def test_parquet_and_a_period_list(self, session, world, actor):
        data = request(format="parquet", periods=[202403, 202401], indicators=[TAX])
        created = downloads.create(session, actor=actor, data=data, lake=world.lake)
        _, frame = open_rows(created)
        assert sorted(set(frame["period"].to_list())) == [202401, 202403]
        assert frame.height == 4

    def test_revocation_stops_inclusion_at_once(self, session, world, actor):
        first = downloads.create(session, actor=actor, data=request(), lake=world.lake)
        revoke(session, world.downloads[world.ids[0]])
        second = downloads.create(session, actor=actor, data=request(), lake=world.lake)
        assert second.download.entity_ids == [world.ids[1]]
        reasons = {s.uscc: s.reason for s in second.skipped}
        assert reasons[world.usccs[0]] == "revoked"
        _, frame = open_rows(second)
        assert set(frame["uscc"]) == {world.usccs[1]}
        # the earlier package of the revoked entity cannot be fetched again either
        with pytest.raises(DownloadExpired):
            downloads.fetch(session, actor=actor, public_id=first.download.public_id)
        name, blob = downloads.fetch(session, actor=actor, public_id=second.download.public_id)
        assert blob == second.download.package and name.endswith(".zip")

    def test_all_revoked_is_refused_with_reasons(self, session, world, actor):
        for consent_id in world.downloads.values():
            revoke(session, consent_id)
        with pytest.raises(NothingToDownload) as caught:
            downloads.create(session, actor=actor, data=request(), lake=world.lake)
        assert {s["reason"] for s in caught.value.details["skipped"]} == {"revoked", "none"}

    def test_monitoring_authorization_is_not_a_download_authorization(self, session, world, actor):
        from tests.monitoring.helpers import grant

        grant(session, world.bank.id, world.ids[2])  # purpose monitoring only
        created = downloads.create(session, actor=actor, data=request(), lake=world.lake)
        assert world.ids[2] not in created.download.entity_ids
        assert {s.uscc: s.reason for s in created.skipped}[world.usccs[2]] == "wrong_purpose"

    def test_out_of_scope_and_not_watched(self, session, world, actor):
        other = build(session, world.lake.path.parent / "other", n=1, consented=0)
        narrow = world.ids[1]
        revoke(session, world.downloads[narrow])
        grant_download(session, world.bank.id, narrow, categories=["financial"])
        data = request(usccs=[world.usccs[0], world.usccs[1].lower(), other.usccs[0]])
        created = downloads.create(session, actor=actor, data=data, lake=world.lake)
        reasons = {s.uscc: s.reason for s in created.skipped}
        assert reasons == {world.usccs[1]: "out_of_scope", other.usccs[0]: "not_watched"}
        assert created.download.entity_ids == [world.ids[0]]

    def test_quota_refuses_the_whole_download(self, session, world, actor):
        tight = get_settings().model_copy(update={"download_daily_rows": 10})
        kw = {"actor": actor, "data": request(), "lake": world.lake, "settings": tight}
        downloads.create(session, **kw)  # 6 rows
        with pytest.raises(DownloadQuotaExceeded) as caught:
            downloads.create(session, **kw)
        assert caught.value.params == {"rows": 6, "left": 4, "limit": 10}
        assert caught.value.status == 429
        assert len(session.scalars(select(Download)).all()) == 1

    def test_validation_names_the_field(self, session, world, actor):
        with pytest.raises(InvalidMonitoringInput) as caught:
            downloads.create(
                session, actor=actor, data=request(indicators=["NOPE"]), lake=world.lake
            )
        assert caught.value.details[0]["field"] == "indicators[0]"
        with pytest.raises(InvalidMonitoringInput) as caught:
            downloads.create(session, actor=actor, data=request(periods=[202413]), lake=world.lake)
        assert caught.value.details[0]["field"] == "periods[0]"
        with pytest.raises(InvalidMonitoringInput) as caught:
            downloads.create(session, actor=actor, data=request(usccs=["bad"]), lake=world.lake)
        assert caught.value.details[0]["field"] == "usccs[0]"

    def test_expired_package_is_not_fetched(self, session, world, actor):
        created = downloads.create(session, actor=actor, data=request(), lake=world.lake)
        later = utcnow() + timedelta(days=get_settings().download_retention_days, seconds=1)
        with pytest.raises(DownloadExpired):
            downloads.fetch(session, actor=actor, public_id=created.download.public_id, now=later)
        assert downloads.purge_expired(session, later) == 1
        session.refresh(created.download)
        assert created.download.package is None


# --- periods -------------------------------------------------------------------------------

months = st.integers(2000, 2030).flatmap(lambda y: st.integers(1, 12).map(lambda m: y * 100 + m))


@given(a=months, b=months)
def test_period_ranges_are_consecutive_months(a, b):
    start, end = min(a, b), max(a, b)
    span = (end // 100 - start // 100) * 12 + end % 100 - start % 100 + 1
    if span > 120:
        with pytest.raises(InvalidMonitoringInput):
            downloads.periods_of(PeriodRange(start=start, end=end))
        return
    out = downloads.periods_of(PeriodRange(start=start, end=end))
    assert out[0] == start and out[-1] == end and len(out) == span
    assert all(1 <= p % 100 <= 12 for p in out)
    assert out == sorted(set(out))


@given(st.integers(-(10**7), 10**7))
def test_a_period_is_valid_only_as_yyyymm(value):
    ok = 190001 <= value <= 299912 and 1 <= value % 100 <= 12
    if ok:
        assert downloads.periods_of([value]) == [value]
    else:
        with pytest.raises(InvalidMonitoringInput):
            downloads.periods_of([value])


# --- the package ---------------------------------------------------------------------------

SIGNER = Sm2PrivateKey.generate()
KEY = bytes(range(16))


def _package() -> bytes:
    return package.build(
        signer=SIGNER,
        header={"id": "x", "row_count": 1, "entity_count": 1, "format": "csv"},
        entities=[{"uscc": "U", "name": "N"}],
        data_format="csv",
        data=b"a,b\n1,2\n",
        key=KEY,
    ).package


PACKAGE = _package()


def _members(blob: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _rezip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


class TestPackage:
    def test_round_trip(self):
        opened = package.open_package(PACKAGE, KEY, [SIGNER.public_key()])
        assert opened.data == b"a,b\n1,2\n" and opened.inner["entities"][0]["uscc"] == "U"

    @pytest.mark.parametrize("member", package.MEMBERS)
    def test_a_flipped_byte_in_any_member_fails(self, member):
        members = _members(PACKAGE)
        blob = bytearray(members[member])
        blob[len(blob) // 2] ^= 0x01
        members[member] = bytes(blob)
        with pytest.raises(package.PackageInvalid):
            package.verify(_rezip(members), [SIGNER.public_key()])

    def test_wrong_signer_wrong_key_missing_member(self):
        with pytest.raises(package.PackageInvalid, match="signature"):
            package.verify(PACKAGE, [Sm2PrivateKey.generate().public_key()])
        with pytest.raises(package.PackageInvalid, match="content key"):
            package.open_package(PACKAGE, bytes(16), [SIGNER.public_key()])
        members = _members(PACKAGE)
        del members[package.SIGNATURE]
        with pytest.raises(package.PackageInvalid):
            package.verify(_rezip(members), [SIGNER.public_key()])

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.integers(0, len(PACKAGE) - 1), st.integers(1, 255))
    def test_any_changed_byte_of_the_file_fails(self, at, flip):
        blob = bytearray(PACKAGE)
        blob[at] ^= flip
        try:
            package.open_package(bytes(blob), KEY, [SIGNER.public_key()])
        except package.PackageInvalid:
            return
        # a zip has bytes no reader looks at (e.g. header timestamps of the central
        # directory copy); a change there must still leave every member as signed
        assert _members(bytes(blob)) == _members(PACKAGE)

    @pytest.mark.parametrize(
        ("field", "flip"),
        [(8, 0x01), (10, 0x63), (10, 0x08)],
        ids=["encrypted-flag", "unknown-method", "stored-as-deflated"],
    )
    def test_a_changed_flag_or_method_in_the_directory_fails_cleanly(self, field, flip):
        """Regression: zipfile raises RuntimeError ("password required"),
        NotImplementedError (unknown method) or zlib.error for these, not BadZipFile."""
        blob = bytearray(PACKAGE)
        at = blob.index(b"PK\x01\x02") + field  # the first central directory entry
        blob[at] ^= flip
        with pytest.raises(package.PackageInvalid):
            package.open_package(bytes(blob), KEY, [SIGNER.public_key()])


# --- API and CLI -----------------------------------------------------------------------------


@pytest.fixture
def api_world(world, monkeypatch):
    monkeypatch.setattr(downloads, "open_lake", lambda settings: world.lake)
    return world


def test_api_happy_path_and_cli(client, session, api_world, tmp_path):
    auth = factories.token(client, api_world.manager.username)
    r = client.post(
        "/api/v1/monitoring/downloads",
        json={"indicators": [TAX], "periods": {"from": 202401, "to": 202403}, "format": "csv"},
        headers=auth,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["download"]["row_count"] == 6 and len(body["key"]) == 32
    assert body["download"]["skipped"][0]["reason"] == "none"
    listed = client.get("/api/v1/monitoring/downloads", headers=auth).json()
    assert [d["id"] for d in listed["items"]] == [body["download"]["id"]]
    assert "key" not in listed["items"][0]
    blob = client.get(body["package_url"], headers=auth)
    assert blob.status_code == 200 and blob.headers["content-type"] == "application/zip"
    path = tmp_path / "p.zip"
    path.write_bytes(blob.content)

    from puhui.cli import app as cli

    runner = CliRunner()
    ok = runner.invoke(cli, ["download", "verify", str(path)])
    assert ok.exit_code == 0, ok.output
    out = tmp_path / "out"
    opened = runner.invoke(
        cli, ["download", "open", str(path), "--key", body["key"], "--out", str(out)]
    )
    assert opened.exit_code == 0, opened.output
    frame = pl.read_csv(out / "data.csv")
    assert frame.height == 6 and set(frame["indicator"]) == {TAX}
    wrong = runner.invoke(
        cli, ["download", "open", str(path), "--key", "00" * 16, "--out", str(out)]
    )
    assert wrong.exit_code == 1
    members = _members(blob.content)
    payload = bytearray(members[package.PAYLOAD])
    payload[40] ^= 0xFF
    members[package.PAYLOAD] = bytes(payload)
    path.write_bytes(_rezip(members))
    bad = runner.invoke(cli, ["download", "verify", str(path)])
    assert bad.exit_code == 1 and "does not verify" in " ".join(bad.output.split())


def test_api_permissions(client, session, api_world):
    world = api_world
    cm = factories.user(session, Role.CUSTOMER_MANAGER, world.bank)
    cm_auth = factories.token(client, cm.username)
    body = {"indicators": [TAX], "periods": [202401]}
    assert (
        client.post("/api/v1/monitoring/downloads", json=body, headers=cm_auth).status_code == 403
    )
    auth = factories.token(client, world.manager.username)
    made = client.post("/api/v1/monitoring/downloads", json=body, headers=auth).json()
    other_bank = factories.institution(session)
    stranger = factories.user(session, Role.RISK_MANAGER, other_bank)
    s_auth = factories.token(client, stranger.username)
    url = f"/api/v1/monitoring/downloads/{made['download']['id']}"
    assert client.get(url, headers=s_auth).status_code == 404
    assert client.get(url + "/package", headers=s_auth).status_code == 404
    bad = client.post(
        "/api/v1/monitoring/downloads",
        json={"indicators": [TAX], "periods": {"from": 202405, "to": 202401}},
        headers=auth,
    )
    assert bad.status_code == 422 and "periods.to" in bad.text


def test_quota_is_safe_under_concurrency(engine):
    """Eight takers of 3 rows against a limit of 10: exactly three succeed."""
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite serialises writers anyway; the race is a PostgreSQL one")
    import threading

    from sqlalchemy.orm import Session

    from puhui.accounts.models import Institution

    with Session(engine) as s:  # committed, so that the takers' connections see it
        bank_id = factories.institution(s).id
        s.commit()
    day = utcnow().date()
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def take() -> None:
        with Session(engine) as s:
            barrier.wait()
            ok = repository.take_download_quota(s, bank_id, day, 3, 10)
            s.commit()
            results.append(ok)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert sorted(results) == [False] * 5 + [True] * 3
        with Session(engine) as s:
            assert s.get(DownloadQuota, (bank_id, day)).rows_used == 9
    finally:
        with Session(engine) as s:
            s.query(DownloadQuota).filter_by(institution_id=bank_id).delete()
            s.query(Institution).filter_by(id=bank_id).delete()
            s.commit()


def test_page_requests_shows_the_key_once_and_lists(client, session, api_world):
    from tests.conftest import csrf_from

    world = api_world
    csrf = factories.web_login(client, world.manager.username)
    assert client.get("/monitoring/downloads").status_code == 200
    form = {
        "csrf_token": csrf,
        "indicators": f"{TAX}, {CAPITAL}",
        "period_from": "202401",
        "period_to": "202403",
        "format": "parquet",
    }
    r = client.post("/monitoring/downloads", data=form)
    assert r.status_code == 200, r.text[:500]
    assert 'id="content-key"' in r.text
    key = r.text.split('id="content-key">')[1].split("<")[0]
    row = session.scalars(select(Download)).one()
    assert row.row_count == 8  # 2 entities × (3 tax + 1 capital)
    listed = client.get("/monitoring/downloads").text
    assert key not in listed and row.public_id in listed
    blob = client.get(f"/monitoring/downloads/{row.public_id}/package")
    assert blob.status_code == 200
    opened = package.open_package(blob.content, bytes.fromhex(key), platform_keys())
    assert pl.read_parquet(io.BytesIO(opened.data)).height == 8
    bad = client.post("/monitoring/downloads", data={**form, "period_to": "2024"})
    assert bad.status_code == 422 and "field-error" in bad.text
    assert csrf_from(bad.text)
    for consent_id in world.downloads.values():
        revoke(session, consent_id)
    none = client.post("/monitoring/downloads", data=form)
    assert none.status_code == 422 and world.usccs[0] in none.text
