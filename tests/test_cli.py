"""The command line, run in-process against its own database."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, func, select
from typer.testing import CliRunner

from puhui import __version__
from puhui.accounts.models import Institution, User
from puhui.cli import app as cli
from tests.conftest import create_database


@pytest.fixture
def cli_db(tmp_path, monkeypatch, settings) -> Iterator[str]:
    from puhui.config import get_settings
    from puhui.core.security import _hasher

    url, drop = create_database(os.environ.get("PUHUI_TEST_DATABASE_URL"), tmp_path, "cli")
    monkeypatch.setenv("PUHUI_DATABASE_URL", url)
    monkeypatch.setenv("PUHUI_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    _hasher.cache_clear()
    yield url
    get_settings.cache_clear()
    monkeypatch.undo()
    get_settings.cache_clear()
    drop()


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def count(url: str, model) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(model))
    finally:
        engine.dispose()


class TestCli:
    def test_version(self):
        r = run("--version")
        assert r.exit_code == 0 and __version__ in r.output

    def test_init_creates_the_first_operator_and_is_repeatable(self, cli_db, tmp_path):
        r = run("init", "--operator-username", "root_op", "--operator-password", "Root-pass-2026")
        assert r.exit_code == 0, r.output
        assert (tmp_path / "var" / "lake").is_dir()
        assert run("init").exit_code == 0
        assert count(cli_db, User) == 1
        r = run("init", "--operator-username", "root_op", "--operator-password", "Root-pass-2026")
        assert r.exit_code == 2 and "taken" in r.output

    def test_generated_operator_password_is_printed_once(self, cli_db):
        r = run("init", "--operator-username", "gen_op")
        assert r.exit_code == 0 and "password (shown once)" in r.output

    def test_create_institution_and_user(self, cli_db):
        assert (
            run("admin", "create-institution", "--name", "宁波银行", "--kind", "bank").exit_code
            == 0
        )
        r = run(
            "admin",
            "create-user",
            "--username",
            "cm1",
            "--password",
            "Secret-pass-2026",
            "--role",
            "customer_manager",
            "--institution",
            "宁波银行",
        )
        assert r.exit_code == 0, r.output
        r = run(
            "admin",
            "create-user",
            "--username",
            "ent1",
            "--password",
            "Secret-pass-2026",
            "--role",
            "enterprise",
            "--uscc",
            "9144030071526726XG",
        )
        assert r.exit_code == 0, r.output

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (
                ["admin", "create-institution", "--name", "X", "--kind", "casino"],
                "unknown institution kind",
            ),
            (
                [
                    "admin",
                    "create-user",
                    "--username",
                    "u1x",
                    "--password",
                    "Secret-pass-2026",
                    "--role",
                    "wizard",
                ],
                "unknown role",
            ),
            (
                [
                    "admin",
                    "create-user",
                    "--username",
                    "u2x",
                    "--password",
                    "Secret-pass-2026",
                    "--role",
                    "customer_manager",
                    "--institution",
                    "不存在的机构",
                ],
                "no institution named",
            ),
            (
                [
                    "admin",
                    "create-user",
                    "--username",
                    "u3x",
                    "--password",
                    "Secret-pass-2026",
                    "--role",
                    "customer_manager",
                ],
                "must belong to an institution",
            ),
            (
                [
                    "admin",
                    "create-user",
                    "--username",
                    "u4x",
                    "--password",
                    "short",
                    "--role",
                    "operator",
                    "--institution",
                    "平台",
                ],
                "at least 10",
            ),
            (
                [
                    "admin",
                    "create-user",
                    "--username",
                    "u5x",
                    "--password",
                    "Secret-pass-2026",
                    "--role",
                    "enterprise",
                    "--uscc",
                    "91350100M000100Y44",
                ],
                "check character",
            ),
        ],
    )
    def test_bad_arguments_exit_2_and_write_nothing(self, cli_db, args, message):
        assert (
            run("admin", "create-institution", "--name", "平台", "--kind", "platform").exit_code
            == 0
        )
        users, insts = count(cli_db, User), count(cli_db, Institution)
        r = run(*args)
        assert r.exit_code == 2, r.output
        assert message in r.output
        assert (count(cli_db, User), count(cli_db, Institution)) == (users, insts)

    def test_duplicates_exit_2(self, cli_db):
        assert (
            run("admin", "create-institution", "--name", "甲银行", "--kind", "bank").exit_code == 0
        )
        r = run("admin", "create-institution", "--name", "甲银行", "--kind", "bank")
        assert r.exit_code == 2 and "already exists" in r.output
        args = [
            "admin",
            "create-user",
            "--username",
            "dup",
            "--password",
            "Secret-pass-2026",
            "--role",
            "risk_manager",
            "--institution",
            "甲银行",
        ]
        assert run(*args).exit_code == 0
        r = run(*args)
        assert r.exit_code == 2 and "taken" in r.output
        assert count(cli_db, User) == 1

    def test_several_server_processes_need_postgresql(self, cli_db):
        if not cli_db.startswith("sqlite"):
            pytest.skip("the refusal is for SQLite")
        r = run("serve", "--processes", "2", "--port", "1")
        assert r.exit_code == 2 and "PostgreSQL" in r.output

    def test_demo_refuses_outside_development(self, cli_db):
        r = run("demo", "--no-serve")
        assert r.exit_code == 2 and "PUHUI_ENV=development" in r.output

    def test_demo_creates_every_role_and_is_repeatable(self, cli_db, monkeypatch):
        from puhui.config import get_settings
        from puhui.core.policy import Role

        monkeypatch.setenv("PUHUI_ENV", "development")
        monkeypatch.setenv("PUHUI_ARGON2_TIME_COST", "2")
        monkeypatch.setenv("PUHUI_ARGON2_MEMORY_KIB", "19456")
        get_settings.cache_clear()
        r = run("demo", "--no-serve", "--entities", "0")
        assert r.exit_code == 0, r.output
        assert run("demo", "--no-serve", "--entities", "0").exit_code == 0
        engine = create_engine(cli_db)
        with engine.connect() as conn:
            roles = set(conn.scalars(select(User.role)).all())
            kinds = [k for (k,) in conn.execute(select(Institution.kind)).all()]
        engine.dispose()
        assert roles == {r.value for r in Role}
        assert sorted(kinds) == sorted(
            ["platform", "regulator", "bank", "bank", "guarantor", "data_source"]
        )
        assert "Demo@2026puhui" in r.output


class TestIngestCommand:
    def _registry(
        self, tmp_path, code: str = "9144030071526726XG", name: str = "宁波命令行测试有限公司"
    ):
        from puhui.ingest.readers import REGISTRY_COLUMNS

        path = tmp_path / f"registry-{code}.csv"
        row = [
            code.replace("4403", "3302", 1),
            name,
            "enterprise",
            "330212",
            "C",
            "39",
            "100",
            "2010-01-01",
            "active",
            "",
            "",
        ]
        from puhui.entities import service as entities

        row[0] = entities.make(row[0][:17])
        path.write_text(",".join(REGISTRY_COLUMNS) + "\n" + ",".join(row) + "\n", encoding="utf-8")
        return path, row[0]

    def test_registry_then_observations_then_the_same_file_again(self, cli_db, tmp_path):
        registry, code = self._registry(tmp_path)
        r = run("ingest", str(registry), "--source", "SAMR")
        assert r.exit_code == 0, r.output
        assert "1 accepted" in r.output
        data = tmp_path / "tax.csv"
        data.write_text(
            f"uscc,indicator,period,value\n{code},OPR_TAX_TOTAL_12M,2026-09,10\n"
            f"{code},OPR_TAX_TOTAL_12M,2026-13,10\n"
        )
        r = run("ingest", str(data), "--source", "tax")
        assert r.exit_code == 0, r.output
        assert (
            "1 accepted, 1 rejected" in r.output
            and "bad_period: 1" in r.output
            and "report:" in r.output
        )
        r = run("ingest", str(data), "--source", "TAX")
        assert r.exit_code == 0 and "nothing changed" in r.output

    def test_lake_compact_sorts_the_years_once(self, cli_db, tmp_path):
        codes = []
        for code, name in (("9144030071526726XG", "甲"), ("9144030071526727XG", "乙")):
            registry, made = self._registry(tmp_path, code, name)
            assert run("ingest", str(registry), "--source", "SAMR").exit_code == 0
            codes.append(made)
        # two batches over the same two entities: their files overlap
        for n, period in enumerate(("2025-09", "2025-10")):
            data = tmp_path / f"tax{n}.csv"
            data.write_text(
                "uscc,indicator,period,value\n"
                + "".join(f"{c},OPR_TAX_TOTAL_12M,{period},{n}\n" for c in codes)
            )
            assert run("ingest", str(data), "--source", "TAX").exit_code == 0
        r = run("lake", "compact")
        assert r.exit_code == 0, r.output
        assert "2025: 2 files into 1" in r.output
        again = run("lake", "compact", "--year", "2025")
        assert again.exit_code == 0 and "already sorted" in again.output
        assert run("lake", "compact", "--year", "99").exit_code == 2
        r = run("lake", "index")
        assert r.exit_code == 0 and "history index of lake version" in r.output, r.output

    def test_bad_arguments_and_rejected_files(self, cli_db, tmp_path):
        assert run("ingest", str(tmp_path / "missing.csv"), "--source", "TAX").exit_code == 2
        (tmp_path / "f.csv").write_text("uscc,indicator,period,value\n")
        r = run("ingest", str(tmp_path / "f.csv"), "--source", "NOPE")
        assert r.exit_code == 2 and "No data source" in r.output
        (tmp_path / "b.parquet").write_bytes(b"not parquet at all")
        r = run("ingest", str(tmp_path / "b.parquet"), "--source", "TAX")
        assert r.exit_code == 1 and "rejected" in r.output


class TestGenerateCity:
    def test_writes_a_city_with_its_manifest_and_the_same_seed_gives_the_same_bytes(self, tmp_path):
        import hashlib
        import json

        for name in ("a", "b"):
            r = run(
                "generate", "city", "--entities", "300", "--seed", "5", "--out",
                str(tmp_path / name),
            )  # fmt: skip
            assert r.exit_code == 0, r.output
            assert "city of 300 entities (seed 5)" in r.output
        manifest = json.loads((tmp_path / "a" / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["entities"] == 300 and manifest["files"]

        def digests(root):
            return {
                p.relative_to(root): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*"))
                if p.is_file()
            }

        assert digests(tmp_path / "a") == digests(tmp_path / "b")

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--entities", "0"], "--entities"),
            (["--end-period", "2026-13"], "--end-period must be a month"),
            (["--months", "0"], "--months"),
        ],
    )
    def test_bad_arguments_exit_2_and_write_nothing(self, tmp_path, args, message):
        out = tmp_path / "city"
        r = run("generate", "city", "--out", str(out), *args)
        assert r.exit_code == 2 and message in " ".join(r.output.split())
        assert not out.exists()

    def test_refuses_a_folder_holding_other_files(self, tmp_path):
        (tmp_path / "notes.txt").write_text("mine")
        r = run("generate", "city", "--entities", "10", "--out", str(tmp_path))
        assert r.exit_code == 2 and "holds other files" in " ".join(r.output.split())
        assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
