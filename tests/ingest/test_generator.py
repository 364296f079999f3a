"""The synthetic city generator, checked from the outside: files are read back with their
own readers and judged by a small checker written here from the catalog CSV and the
contract in ``puhui.ingest.generator`` — not by the generator's own code."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from datetime import date
from pathlib import Path

import polars as pl
import pytest

import puhui
from puhui.entities import uscc
from puhui.ingest.generator import DIRT_KINDS, Manifest, generate_city

ENTITIES = 2_000
SEED = 20_26
FULL_CITY = 1_380_000
CATALOG_CSV = Path(puhui.__file__).parent / "catalog" / "data" / "indicators.csv"
PERIOD_FORMS = {
    "monthly": re.compile(r"^\d{4}-(0[1-9]|1[0-2])$"),
    "event": re.compile(r"^\d{4}-(0[1-9]|1[0-2])$"),
    "static": re.compile(r"^\d{4}-(0[1-9]|1[0-2])$"),
    "quarterly": re.compile(r"^\d{4}-Q[1-4]$"),
    "annual": re.compile(r"^\d{4}$"),
}
NUMERIC = {"amount", "count", "ratio", "flag"}


@pytest.fixture(scope="module")
def catalog() -> dict[str, dict[str, str]]:
    with CATALOG_CSV.open(encoding="utf-8", newline="") as fh:
        return {row["code"]: row for row in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    root = tmp_path_factory.mktemp("city")
    manifest = generate_city(root, entities=ENTITIES, seed=SEED)
    return root, manifest


@pytest.fixture(scope="module")
def registry(city: tuple[Path, Manifest]) -> pl.DataFrame:
    root, _ = city
    return pl.read_csv(root / "SAMR" / "registry.csv", infer_schema=False, encoding="utf8")


# ---- reading files back ----------------------------------------------------------------


def read_table(root: Path, entry) -> tuple[pl.DataFrame, bool]:
    """The file as a frame of strings (``None`` = empty), plus whether its values came from a
    typed format where a string in a numeric column is itself a type error."""
    path = root / entry.path
    if entry.format == "csv":
        raw = path.read_bytes()
        if entry.encoding == "utf-8-sig":
            assert raw.startswith(b"\xef\xbb\xbf")
            text = raw[3:].decode("utf-8")
        else:
            assert not raw.startswith(b"\xef\xbb\xbf")
            text = raw.decode(entry.encoding)
        return pl.read_csv(io.StringIO(text), infer_schema=False), False
    if entry.format == "parquet":
        df = pl.read_parquet(path)
        return df.with_columns(pl.all().cast(pl.Utf8)), False
    if entry.format == "jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        return pl.DataFrame(
            {
                "uscc": [r["uscc"] for r in rows],
                "indicator": [r["indicator"] for r in rows],
                "period": [r["period"] for r in rows],
                "value": [
                    r["value"] if isinstance(r["value"], str) else f"\x00{r['value']}" for r in rows
                ],
            },
            schema=dict.fromkeys(("uscc", "indicator", "period", "value"), pl.Utf8),
        ), True
    if entry.format == "xlsx":
        from openpyxl import load_workbook

        ws = load_workbook(path, read_only=True)["data"]
        rows = list(ws.iter_rows(values_only=True))
        header, data = list(rows[0]), rows[1:]
        cols = (
            {
                h: [None if v is None else (v if isinstance(v, str) else f"\x00{v}") for v in col]
                for h, col in zip(header, zip(*data, strict=True), strict=True)
            }
            if data
            else {h: [] for h in header}
        )
        return pl.DataFrame(cols, schema=dict.fromkeys(header, pl.Utf8)), True
    raise AssertionError(entry.format)


def observations(df: pl.DataFrame, entry) -> pl.DataFrame:
    """Long form with the data row number and the column each value sits in."""
    df = df.with_row_index("row", offset=1)
    if entry.layout == "long":
        return df.with_columns(pl.lit("value").alias("column"))
    codes = [c for c in df.columns if c not in ("row", "uscc", "period")]
    return (
        df.unpivot(
            index=["row", "uscc", "period"], on=codes, variable_name="indicator", value_name="value"
        )
        .drop_nulls("value")
        .with_columns(pl.col("indicator").alias("column"))
    )


def _number(value: str, typed: bool) -> float | None:
    if typed:
        if not value.startswith("\x00"):
            return None  # a string where a number belongs
        value = value[1:]
    try:
        return float(value)
    except ValueError:
        return None


def _is_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return bool(re.match(r"^\d{4}-\d{2}-\d{2}$", value))


def last_month(period: str) -> str:
    if "Q" in period:
        return f"{period[:4]}-{int(period[-1]) * 3:02d}"
    return period if "-" in period else f"{period}-12"


def check_file(root: Path, entry, catalog, known: set[str], end_period: str) -> set[tuple]:
    """Every problem in the file as (file, row, column, kind)."""
    df, typed = read_table(root, entry)
    problems: set[tuple] = set()
    if entry.layout == "wide":
        assert df.columns == ["uscc", "period", *entry.indicators]
    else:
        assert df.columns == ["uscc", "indicator", "period", "value"]
    first = df.select(pl.struct(pl.all()).is_first_distinct()).to_series()
    dup = df.with_row_index("row", offset=1).filter(~first)
    problems |= {(entry.path, r, None, "duplicate_row") for r in dup["row"]}
    codes = sorted(set(df["uscc"].to_list()))
    valid = {c for c in codes if uscc.is_valid(c)}
    rows = df.with_row_index("row", offset=1).select("row", "uscc")
    for r, code in rows.iter_rows():
        if code in known:
            continue
        problems.add((entry.path, r, "uscc", "unknown_uscc" if code in valid else "invalid_uscc"))
    obs = observations(df, entry)
    bad_period_rows: set[int] = set()
    for r, ind_code, column, period, value in obs.select(
        "row", "indicator", "column", "period", "value"
    ).iter_rows():
        ind = catalog.get(ind_code)
        if ind is None:
            problems.add(
                (
                    entry.path,
                    r,
                    "indicator" if entry.layout == "long" else column,
                    "unknown_indicator",
                )
            )
            continue
        assert ind["source"] == entry.source, (entry.path, ind_code)
        if not PERIOD_FORMS[ind["frequency"]].match(period or ""):
            bad_period_rows.add(r)
        else:
            assert last_month(period) <= end_period, (entry.path, r, period)
        vt = ind["value_type"]
        if vt in NUMERIC:
            x = _number(value, typed)
            if x is None:
                problems.add((entry.path, r, column, "wrong_type"))
                continue
            if vt in ("count", "flag"):
                assert x == int(x), (entry.path, r, ind_code, value)
            if vt == "flag":
                assert x in (0, 1), (entry.path, r, ind_code, value)
            lo, hi = ind["min_value"], ind["max_value"]
            if (lo and x < float(lo)) or (hi and x > float(hi)):
                problems.add((entry.path, r, column, "out_of_range"))
        elif vt == "grade":
            if value not in ind["allowed_values"].split("|"):
                problems.add((entry.path, r, column, "bad_grade"))
        elif vt == "date":
            assert _is_date(value), (entry.path, r, value)
        else:
            assert value, (entry.path, r)
    problems |= {(entry.path, r, "period", "bad_period") for r in bad_period_rows}
    return problems


# ---- tests ---------------------------------------------------------------------------------


class TestDeterminism:
    def test_same_seed_same_bytes(self, city, tmp_path):
        root, _ = city
        generate_city(tmp_path, entities=ENTITIES, seed=SEED)
        first = {
            p.relative_to(root): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*")
            if p.is_file()
        }
        second = {
            p.relative_to(tmp_path): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in tmp_path.rglob("*")
            if p.is_file()
        }
        assert first == second
        assert len(first) > 40

    def test_another_seed_other_bytes(self, city, tmp_path):
        root, _ = city
        generate_city(tmp_path, entities=200, seed=SEED + 1, dirt=False)
        reg = (tmp_path / "SAMR" / "registry.csv").read_bytes()
        assert reg != (root / "SAMR" / "registry.csv").read_bytes()


class TestRegistry:
    def test_columns_and_bom(self, city, registry):
        root, manifest = city
        assert (root / "SAMR" / "registry.csv").read_bytes().startswith(b"\xef\xbb\xbf")
        assert registry.columns == [
            "uscc",
            "name",
            "entity_kind",
            "district",
            "industry_section",
            "industry_division",
            "registered_capital",
            "established",
            "status",
            "legal_rep_name",
            "legal_rep_id",
        ]
        assert registry.height == ENTITIES == manifest.file("SAMR/registry.csv").rows

    def test_every_uscc_valid_except_the_flagged(self, city, registry):
        _, manifest = city
        flagged = {c.row: c.uscc for c in manifest.registry_check_mismatch}
        assert flagged, "a small share of official codes carry a wrong check character"
        assert len(flagged) < ENTITIES * 0.01
        for row, code in enumerate(registry["uscc"], start=1):
            assert uscc.is_valid(code) == (row not in flagged), (row, code)
            if row in flagged:
                assert flagged[row] == code
                assert uscc.is_valid(code[:17] + uscc.check_character(code[:17]))
        assert registry["uscc"].n_unique() == ENTITIES

    def test_codes_carry_district_and_category(self, registry):
        districts = {
            "330203",
            "330205",
            "330206",
            "330211",
            "330212",
            "330213",
            "330225",
            "330226",
            "330281",
            "330282",
        }
        category = {"enterprise": "1", "individual_business": "2", "cooperative": "3"}
        for code, kind, district in registry.select("uscc", "entity_kind", "district").iter_rows():
            assert code[0] == "9" and code[1] == category[kind]
            assert code[2:8] == district and district in districts

    def test_about_two_individual_businesses_per_enterprise(self, registry):
        kinds = registry["entity_kind"].value_counts()
        count = dict(kinds.iter_rows())
        assert 1.7 <= count["individual_business"] / count["enterprise"] <= 2.3
        assert 0 < count["cooperative"] < 0.06 * ENTITIES

    def test_resident_ids_are_valid(self, registry):
        weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
        for rid, established in registry.select("legal_rep_id", "established").iter_rows():
            assert len(rid) == 18 and rid[:4] == "3302"
            total = sum(int(c) * w for c, w in zip(rid[:17], weights, strict=True))
            assert rid[17] == "10X98765432"[total % 11]
            born = date(int(rid[6:10]), int(rid[10:12]), int(rid[12:14]))
            age = (date.fromisoformat(established) - born).days / 365.25
            assert 18 <= age <= 70

    def test_realistic_shape(self, registry):
        names = registry["name"]
        assert names.n_unique() == ENTITIES
        assert names.str.contains("有限公司").mean() > 0.25
        assert names.str.contains("店").mean() > 0.1
        capital = registry["registered_capital"].cast(pl.Int64)
        assert capital.min() > 0
        assert capital.quantile(0.99) > 20 * capital.median()  # skewed
        years = registry["established"].str.slice(0, 4).cast(pl.Int32)
        assert years.min() < 2000 and years.max() >= 2026
        assert (registry["status"] == "active").mean() > 0.85
        sections = set(registry["industry_section"])
        assert {"C", "F", "E", "H", "L"} <= sections
        for name in names:
            name.encode("gbk")


@pytest.fixture(scope="module")
def problems(city, catalog, registry) -> set[tuple]:
    root, manifest = city
    known = set(registry["uscc"])
    found: set[tuple] = set()
    for entry in manifest.files:
        if entry.layout != "registry":
            found |= check_file(root, entry, catalog, known, manifest.end_period)
    return found


class TestObservations:
    def test_planted_dirt_is_exactly_what_a_checker_finds(self, city, problems):
        _, manifest = city
        planted = {(d.file, d.row, d.column, d.kind) for d in manifest.dirt}
        assert sorted(problems - planted, key=str) == []
        assert sorted(planted - problems, key=str) == []

    def test_every_dirt_kind_is_planted(self, city):
        _, manifest = city
        assert {d.kind for d in manifest.dirt} == set(DIRT_KINDS)
        assert len(manifest.dirt) < 200

    def test_every_catalog_indicator_but_the_platforms_is_sent_by_its_source(self, city, catalog):
        _, manifest = city
        sent = {c for f in manifest.files for c in f.indicators}
        sent |= {
            "BAS_NAME",
            "BAS_ENTITY_TYPE",
            "BAS_DISTRICT",
            "BAS_INDUSTRY_SECTION",
            "BAS_INDUSTRY_DIVISION",
            "BAS_REG_CAPITAL",
            "BAS_ESTABLISHED",
            "BAS_STATUS",
            "BAS_LEGAL_REP_NAME",
            "BAS_LEGAL_REP_ID",
        }
        expected = {c for c, row in catalog.items() if row["source"] != "PLATFORM"}
        assert sent == expected
        for f in manifest.files:
            assert all(catalog[c]["source"] == f.source for c in f.indicators)
            assert f.source != "PLATFORM"

    def test_observation_counts_match_the_files(self, city):
        root, manifest = city
        for entry in manifest.files:
            if entry.layout == "registry":
                continue
            df, _ = read_table(root, entry)
            assert df.height == entry.rows, entry.path
            assert observations(df, entry).height == entry.observations, entry.path


class TestFormats:
    def test_all_formats_encodings_and_layouts_appear(self, city):
        root, manifest = city
        combos = {(f.format, f.encoding, f.layout) for f in manifest.files}
        formats = {f.format for f in manifest.files}
        encodings = {f.encoding for f in manifest.files if f.format == "csv"}
        assert formats == {"csv", "xlsx", "jsonl", "parquet"}
        assert encodings == {"utf-8", "utf-8-sig", "gbk"}
        assert {layout for _, _, layout in combos} >= {"long", "wide"}
        assert ("parquet", None, "wide") in combos and ("parquet", None, "long") in combos
        for f in manifest.files:
            data = (root / f.path).read_bytes()
            if f.format == "parquet":
                assert data[:4] == b"PAR1"
            if f.format == "xlsx":
                assert zipfile.is_zipfile(io.BytesIO(data))
                assert f.rows < 1_048_576
            if f.encoding == "gbk":
                text = data.decode("gbk")
                if f.path == "SAMR/profile.csv" or any(
                    d.kind == "wrong_type" for d in manifest.dirt if d.file == f.path
                ):
                    assert any(ord(ch) > 127 for ch in text)
                    with pytest.raises(UnicodeDecodeError):
                        data.decode("utf-8")

    def test_tax_is_gbk_and_events_are_json_lines(self, city):
        _, manifest = city
        assert any(f.source == "TAX" and f.encoding == "gbk" for f in manifest.files)
        assert manifest.file("SAMR/profile.csv").encoding == "gbk"
        assert any(f.source == "COURT" and f.format == "jsonl" for f in manifest.files)
        assert {f.source for f in manifest.files if f.format == "xlsx"} >= {"STB", "EIT"}
        big = {f.source for f in manifest.files if f.format == "parquet"}
        assert {"TAX", "HRSS", "POWER"} <= big

    def test_period_forms(self, city):
        root, manifest = city
        forms = set()
        for f in manifest.files:
            df, _ = read_table(root, f) if f.layout != "registry" else (None, None)
            if df is None:
                continue
            for p in df["period"].unique().to_list():
                forms |= {name for name, rx in PERIOD_FORMS.items() if rx.match(p)}
        assert {"monthly", "quarterly", "annual"} <= forms


def without_dirt(df: pl.DataFrame, manifest: Manifest, path: str) -> pl.DataFrame:
    rows = {d.row for d in manifest.dirt if d.file == path}
    return (
        df.with_row_index("_row", offset=1).filter(~pl.col("_row").is_in(list(rows))).drop("_row")
    )


def _months(end: str, n: int) -> list[str]:
    y, m = map(int, end.split("-"))
    g = y * 12 + m - 1
    return [f"{x // 12:04d}-{x % 12 + 1:02d}" for x in range(g - n + 1, g + 1)]


@pytest.fixture(scope="module")
def tax(city) -> pl.DataFrame:
    root, _ = city
    return pl.read_parquet(root / "TAX" / "tax_monthly.parquet")


class TestTimeSeries:
    def test_monthly_series_cover_every_month(self, city, registry):
        root, manifest = city
        expected = set(_months(manifest.end_period, manifest.months))
        settled = registry.filter(
            (pl.col("established") < manifest.first_period) & (pl.col("status") == "active")
        ).select("uscc")
        for path, code in (
            ("TAX/tax_monthly.parquet", "OPR_TAX_TOTAL_M"),
            ("HRSS/social_insurance_monthly.parquet", "OPR_SS_HEADCOUNT_M"),
            ("POWER/electricity_monthly.parquet", "OPR_POWER_M"),
            ("WATER/water_gas_monthly.csv", "OPR_WATER_M"),
            ("CREDIT/credit_monthly.csv", "CRE_CREDIT_SCORE"),
            ("PBOC/credit_monthly.parquet", "FIN_BANK_LOANS"),
        ):
            df, _ = read_table(root, manifest.file(path))
            periods = set(df.filter(pl.col(code).is_not_null())["period"])
            assert expected <= periods, path
            assert len(periods - expected) <= 2  # planted bad periods only
            # a firm established before the window and still active has every month
            full = (
                df.filter(pl.col(code).is_not_null() & pl.col("period").is_in(list(expected)))
                .group_by("uscc")
                .agg(pl.col("period").n_unique().alias("n"))
                .join(settled, on="uscc")
            )
            assert full.height > 50
            assert (full["n"] == manifest.months).mean() > 0.99, path
        hpf = pl.read_parquet(root / "HPF" / "housing_fund_monthly.parquet")
        assert expected <= set(hpf.filter(pl.col("indicator") == "OPR_HPF_HEADCOUNT_M")["period"])

    def test_growth_and_windows_are_consistent_with_levels(self, city, tax):
        _, manifest = city
        months = _months(manifest.end_period, manifest.months)
        shift = {p: {k: months[i - k] for k in (1, 2, 12) if i >= k} for i, p in enumerate(months)}
        df = without_dirt(tax, manifest, "TAX/tax_monthly.parquet")
        level = {
            (u, p): v
            for u, p, v in df.select("uscc", "period", "OPR_TAX_TOTAL_M").iter_rows()
            if v is not None
        }
        checked_yoy = checked_3m = 0
        for u, p, m, yoy, m3 in df.select(
            "uscc", "period", "OPR_TAX_TOTAL_M", "OPR_TAX_TOTAL_YOY", "OPR_TAX_TOTAL_3M"
        ).iter_rows():
            earlier = shift[p]
            base = level.get((u, earlier.get(12)))
            if yoy is not None and base:
                assert abs(yoy - (m / base - 1)) <= 5.01e-5, (u, p)
                checked_yoy += 1
            if (
                m3 is not None
                and 2 in earlier
                and (u, earlier[1]) in level
                and (u, earlier[2]) in level
            ):
                assert abs(m3 - (m + level[(u, earlier[1])] + level[(u, earlier[2])])) < 0.011, (
                    u,
                    p,
                )
                checked_3m += 1
        assert checked_yoy > 1000 and checked_3m > 1000
        parts = [
            "VAT",
            "CIT",
            "IIT",
            "CONSUMPTION",
            "STAMP",
            "URBAN",
            "PROPERTY",
            "LAND_USE",
            "SURCHARGE",
        ]
        total = sum(pl.col(f"OPR_TAX_{p}_M").fill_null(0) for p in parts)
        diff = df.filter(pl.col("OPR_TAX_TOTAL_M").is_not_null()).select(
            (pl.col("OPR_TAX_TOTAL_M") - total).abs().max()
        )
        assert diff.item() < 0.011

    def test_sizes_are_skewed_and_correlated(self, city, tax):
        root, _ = city
        hrss = pl.read_parquet(root / "HRSS" / "social_insurance_monthly.parquet")
        power = pl.read_parquet(root / "POWER" / "electricity_monthly.parquet")
        reg = pl.read_csv(root / "SAMR" / "registry.csv", infer_schema=False)
        last = _months(city[1].end_period, 1)[0]
        joined = (
            tax.filter(pl.col("period") == last)
            .select("uscc", t="OPR_TAX_TOTAL_12M")
            .join(
                hrss.filter(pl.col("period") == last).select("uscc", h="OPR_SS_HEADCOUNT_M"),
                on="uscc",
            )
            .join(
                power.filter(pl.col("period") == last).select("uscc", p="OPR_POWER_12M"), on="uscc"
            )
            .join(reg.select("uscc", c=pl.col("registered_capital").cast(pl.Float64)), on="uscc")
            .filter((pl.col("t") > 0) & (pl.col("h") > 0) & (pl.col("p") > 0))
        )
        assert joined.height > 100
        logs = joined.select(pl.all().exclude("uscc").log())
        corr = logs.corr()
        assert corr[0, 1] > 0.3 and corr[0, 2] > 0.3 and corr[1, 2] > 0.3 and corr[0, 3] > 0.2
        assert joined["h"].quantile(0.99) > 10 * joined["h"].median()

    def test_seasonality(self, city):
        root, _ = city
        power = pl.read_parquet(root / "POWER" / "electricity_monthly.parquet")
        by_month = power.group_by(pl.col("period").str.slice(5, 2).alias("m")).agg(
            pl.col("OPR_POWER_M").median()
        )
        med = dict(by_month.iter_rows())
        assert med["08"] > 1.15 * med["04"] and med["02"] < 0.9 * med["01"]


class TestDistress:
    def test_warning_series_fall_before_the_first_court_case(self, city):
        root, manifest = city
        truth = pl.read_csv(root / manifest.truth["distressed"], infer_schema=False)
        assert truth.height >= 10
        months = _months(manifest.end_period, manifest.months)
        idx = {p: i for i, p in enumerate(months)}
        series = {
            "TAX/tax_monthly.parquet": "OPR_TAX_TOTAL_3M",
            "HRSS/social_insurance_monthly.parquet": "OPR_SS_HEADCOUNT_M",
            "POWER/electricity_monthly.parquet": "OPR_POWER_M",
        }
        for path, code in series.items():
            df = pl.read_parquet(root / path).select("uscc", "period", code).drop_nulls()
            values = {(u, p): v for u, p, v in df.iter_rows()}
            ratios = []
            for u, onset, court in truth.iter_rows():
                before = months[max(idx[onset] - 1, 0)]
                just_before = months[idx[court] - 1]
                if values.get((u, before), 0) > 0 and (u, just_before) in values:
                    ratios.append(values[(u, just_before)] / values[(u, before)])
            assert len(ratios) >= 5, path
            ratios.sort()
            assert ratios[len(ratios) // 2] < 0.85, (path, ratios)
            assert sum(r < 1 for r in ratios) >= 0.7 * len(ratios), (path, ratios)

    def test_court_records_start_at_the_first_court_event(self, city):
        root, manifest = city
        truth = pl.read_csv(root / manifest.truth["distressed"], infer_schema=False)
        first = dict(truth.select("uscc", "first_court_event").iter_rows())
        seen: dict[str, str] = {}
        for path in ("COURT/cases_monthly.csv", "COURT/events.jsonl", "SPC/dishonest.jsonl"):
            df, _ = read_table(root, manifest.file(path))
            against = df.filter(
                pl.col("uscc").is_in(list(first))
                & (pl.col("indicator") != "NEG_LAWSUITS_PLAINTIFF_12M")
            )
            for u, p in against.select("uscc", "period").iter_rows():
                if PERIOD_FORMS["monthly"].match(p):
                    seen[u] = min(seen.get(u, p), p)
        assert seen
        for u, p in seen.items():
            assert p == first[u], u
        assert len(seen) >= 0.8 * len(first)


class TestScale:
    def test_full_city_has_over_300_million_observations(self, city):
        _, manifest = city
        per_entity = manifest.observations / manifest.entities
        assert per_entity * FULL_CITY >= 300_000_000


def test_two_events_of_one_kind_in_one_month_are_one_observation():
    """Two penalties repaired in the same month once produced a repeated key in the full
    city: dirt that nobody planted."""
    from types import SimpleNamespace

    import numpy as np

    from puhui.ingest.generator.frames import Long

    long = Long(SimpleNamespace(e=SimpleNamespace(uscc=["A", "B"])))  # type: ignore[arg-type]
    g = 2026 * 12 + 3  # a month number
    long.add("POS_CREDIT_REPAIRED", np.array([1, 1, 0]), np.array([g, g, g]), np.ones(3))
    long.add("POS_CREDIT_REPAIRED", np.array([1]), np.array([g - 1]), np.ones(1))
    rows = long.frame().rows()
    assert len(rows) == 3
    assert len({r[:3] for r in rows}) == 3
