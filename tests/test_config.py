from __future__ import annotations

import pytest
from pydantic import ValidationError

from puhui.config import DEVELOPMENT_SECRET, Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    """Settings built here see none of the suite's PUHUI_ variables nor a .env file."""
    import os

    for key in [k for k in os.environ if k.startswith("PUHUI_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


class TestSettings:
    def test_default_secret_is_refused_outside_development(self, monkeypatch):
        monkeypatch.delenv("PUHUI_SECRET_KEY", raising=False)
        with pytest.raises(ValidationError, match="PUHUI_SECRET_KEY"):
            Settings(env="production", secret_key=DEVELOPMENT_SECRET)

    def test_default_secret_is_allowed_in_development(self):
        assert (
            Settings(env="development", secret_key=DEVELOPMENT_SECRET).secret_key
            == DEVELOPMENT_SECRET
        )

    def test_short_secret_is_refused(self):
        with pytest.raises(ValidationError, match="32 characters"):
            Settings(env="production", secret_key="short")

    def test_weak_password_hashing_only_in_tests(self):
        with pytest.raises(ValidationError, match="OWASP"):
            Settings(env="production", secret_key="x" * 40, argon2_memory_kib=1024)
        assert (
            Settings(env="test", secret_key="x" * 40, argon2_memory_kib=1024).argon2_memory_kib
            == 1024
        )

    def test_sqlite_under_the_data_dir_by_default(self, tmp_path):
        s = Settings(env="development", data_dir=tmp_path, database_url="")
        assert s.effective_database_url == f"sqlite:///{(tmp_path / 'puhui.db').resolve()}"
        assert s.is_sqlite and s.run_in_process_worker
        pg = Settings(env="development", database_url="postgresql+psycopg://u@h/db")
        assert not pg.is_sqlite and not pg.run_in_process_worker

    def test_settings_come_from_the_environment(self, monkeypatch):
        monkeypatch.setenv("PUHUI_PORT", "9001")
        monkeypatch.setenv("PUHUI_DEFAULT_LOCALE", "en")
        s = Settings(env="development")
        assert s.port == 9001 and s.default_locale == "en"
        monkeypatch.setenv("PUHUI_PORT", "not-a-port")
        with pytest.raises(ValidationError):
            Settings(env="development")


class TestReadme:
    def test_readme_documents_every_setting(self):
        from pathlib import Path

        readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
        missing = [
            name for name in Settings.model_fields if f"`PUHUI_{name.upper()}`" not in readme
        ]
        assert missing == []

    def test_readme_opens_with_the_two_commands(self):
        from pathlib import Path

        readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
        block = readme.split("```sh", 1)[1].split("```", 1)[0].strip().splitlines()
        assert [line.split("#")[0].strip() for line in block] == ["make demo", "make test"]
