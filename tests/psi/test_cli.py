"""`puhui psi`: the command runs the client against the platform with an API key (here the
city's app stands in for the network) and reports the count, or writes the matches."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

import puhui.psi.client as client_module
from puhui.cli import app as cli
from tests import factories


class _Http:
    """The app's TestClient, kept open when the client closes its own."""

    def __init__(self, test_client: Any) -> None:
        self._c = test_client

    def post(self, *args: Any, **kwargs: Any) -> Any:
        return self._c.post(*args, **kwargs)

    def close(self) -> None:
        pass


@pytest.fixture
def key(city, monkeypatch) -> str:
    r = city.client.post(
        "/api/v1/api-keys",
        json={"name": "psi", "role": "customer_manager"},
        headers=city.h("admin_a"),
    )
    assert r.status_code == 201, r.text
    monkeypatch.setattr(client_module.httpx, "Client", lambda **kw: _Http(city.client))
    return str(r.json()["key"])


def _run(*args: str):
    return CliRunner().invoke(cli, list(args))


class TestPsiCommand:
    def test_count(self, city, key, tmp_path):
        listing = tmp_path / "mine.txt"
        listing.write_text(f"{city.a}\n{factories.uscc()}\n\n{city.b}\n", encoding="utf-8")
        flt = tmp_path / "f.json"
        flt.write_text(
            json.dumps({"conditions": [{"indicator": "OPR_TAX_TOTAL_YOY", "op": "gt", "value": 0}]})
        )
        r = _run(
            "psi", "--list", str(listing), "--filter", str(flt),
            "--server", "http://testserver", "--api-key", key,
        )  # fmt: skip
        assert r.exit_code == 0, r.output
        assert "1 of 3 USCCs" in r.output
        assert city.a not in r.output

    def test_which_writes_the_matches(self, city, key, tmp_path):
        r = city.client.put(f"/api/v1/psi/grants/{city.banks['a']}", headers=city.h("operator"))
        assert r.status_code == 200
        listing = tmp_path / "mine.txt"
        listing.write_text(f"{city.a}\n{city.b}\n{factories.uscc()}\n", encoding="utf-8")
        out = tmp_path / "hits.txt"
        r = _run(
            "psi", "--list", str(listing), "--mode", "which", "--out", str(out),
            "--server", "http://testserver", "--api-key", key,
        )  # fmt: skip
        assert r.exit_code == 0, r.output
        assert sorted(out.read_text().split()) == sorted([city.a, city.b])

    def test_refusals_are_reported(self, city, key, tmp_path):
        listing = tmp_path / "mine.txt"
        listing.write_text(f"{city.a}\nbad\n", encoding="utf-8")
        r = _run("psi", "--list", str(listing), "--server", "http://t", "--api-key", key)
        assert r.exit_code == 2 and "line 2" in r.output
        listing.write_text(f"{city.a}\n", encoding="utf-8")
        r = _run(
            "psi", "--list", str(listing), "--mode", "which",
            "--server", "http://testserver", "--api-key", key,
        )  # fmt: skip
        assert r.exit_code == 1 and "403" in r.output
