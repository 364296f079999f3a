"""Ningbo's county-level divisions (GLOSSARY.md), by administrative code."""

from __future__ import annotations

DISTRICTS: dict[str, str] = {
    "330203": "海曙区",
    "330205": "江北区",
    "330206": "北仑区",
    "330211": "镇海区",
    "330212": "鄞州区",
    "330213": "奉化区",
    "330225": "象山县",
    "330226": "宁海县",
    "330281": "余姚市",
    "330282": "慈溪市",
}
STATUSES = ("active", "revoked", "deregistered", "moved_out")
