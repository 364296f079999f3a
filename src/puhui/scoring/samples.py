"""Reading a bank's labelled sample: USCCs with good/bad outcomes, as CSV, XLSX or JSON.

A file has a column (or key) ``uscc`` and one of ``outcome``, ``label`` or ``bad``.
An outcome is ``bad``/``good``, ``1``/``0`` (1 = bad), ``坏``/``好``, ``违约``/``正常``.
Every fault is reported with its row number (the header is row 1 in CSV and XLSX; the
first item is row 1 in JSON); up to :data:`MAX_ERRORS` are listed at once.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any

from puhui.core.i18n import N_
from puhui.entities import service as entities
from puhui.scoring.errors import InvalidSample

MAX_ROWS = 200_000
MAX_BYTES = 20 * 1024 * 1024
MAX_ERRORS = 20
LABEL_COLUMNS = ("outcome", "label", "bad")
BAD = {"bad", "1", "坏", "违约", "true", "yes", "y"}
GOOD = {"good", "0", "好", "正常", "false", "no", "n"}


@dataclass(frozen=True)
class LabelledSample:
    rows: list[tuple[str, int]]  # (normalised USCC, bad)

    @property
    def n_bad(self) -> int:
        return sum(b for _, b in self.rows)


def parse(filename: str, content: bytes) -> LabelledSample:
    if not content:
        raise InvalidSample.at("file", N_("The file is empty."))
    if len(content) > MAX_BYTES:
        raise InvalidSample.at(
            "file", N_("The file is larger than {mb} MB."), mb=MAX_BYTES // 1024 // 1024
        )
    name = filename.lower()
    if name.endswith(".xlsx"):
        records, first = _xlsx(content), 2
    elif name.endswith(".json"):
        records, first = _json(content), 1
    elif name.endswith(".csv") or name.endswith(".txt"):
        records, first = _csv(content), 2
    else:
        raise InvalidSample.at("file", N_("Upload a CSV, XLSX or JSON file."))
    return _labelled(records, first)


def _labelled(records: list[dict[str, Any]], first: int) -> LabelledSample:
    if not records:
        raise InvalidSample.at("file", N_("The file has no rows."))
    if len(records) > MAX_ROWS:
        raise InvalidSample.at("file", N_("At most {max} rows."), max=MAX_ROWS)
    keys = {str(k).strip().lower() for k in records[0]}
    label = next((c for c in LABEL_COLUMNS if c in keys), None)
    if "uscc" not in keys or label is None:
        raise InvalidSample.at(
            "file", N_("The file needs a uscc column and an outcome column (good or bad).")
        )
    problems: list[dict[str, Any]] = []
    rows: list[tuple[str, int]] = []
    seen: dict[str, int] = {}
    for i, record in enumerate(records):
        number = i + first
        data = {str(k).strip().lower(): v for k, v in record.items()}
        raw = "" if data.get("uscc") is None else str(data["uscc"])
        outcome = "" if data.get(label) is None else str(data[label]).strip().lower()
        if outcome.endswith(".0"):
            outcome = outcome[:-2]
        try:
            code, _ = entities.official_code(raw)
        except entities.InvalidUSCC:
            problems.append(_problem(number, "uscc", N_("{value} is not a valid USCC."), raw))
            continue
        if outcome in BAD:
            bad = 1
        elif outcome in GOOD:
            bad = 0
        else:
            problems.append(
                _problem(number, label, N_("{value} is not an outcome; use good or bad."), outcome)
            )
            continue
        if code in seen:
            problems.append(
                _problem(
                    number, "uscc", N_("{value} is listed twice (row {other})."), code, seen[code]
                )
            )
            continue
        seen[code] = number
        rows.append((code, bad))
    if problems:
        first_problem = problems[0]
        raise InvalidSample(
            first_problem["message"],
            details=problems[:MAX_ERRORS],
            **first_problem["params"],
        )
    return LabelledSample(rows=rows)


def _problem(row: int, column: str, message: str, value: str, other: int = 0) -> dict[str, Any]:
    return {
        "field": f"rows.{row}.{column}",
        "row": row,
        "message": message,
        "params": {"value": value[:40], "other": other, "row": row},
    }


def _csv(content: bytes) -> list[dict[str, Any]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InvalidSample.at("file", N_("The file is neither UTF-8 nor GB18030 text."))
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise InvalidSample.at("file", N_("The file has no header row naming its columns."))
    return list(reader)


def _xlsx(content: bytes) -> list[dict[str, Any]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise InvalidSample.at("file", N_("The XLSX file is truncated or damaged.")) from exc
    try:
        rows = book.worksheets[0].iter_rows(values_only=True)
        header = next(rows, None)
        if not header or any(h is None for h in header):
            raise InvalidSample.at("file", N_("The file has no header row naming its columns."))
        names = [str(h).strip() for h in header]
        out = []
        for values in rows:
            if values is None or all(v is None for v in values):
                continue
            out.append(
                {n: _cell(values[i] if i < len(values) else None) for i, n in enumerate(names)}
            )
        return out
    finally:
        book.close()


def _cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _json(content: bytes) -> list[dict[str, Any]]:
    try:
        data = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidSample.at("file", N_("The file is not valid JSON.")) from exc
    if isinstance(data, dict) and isinstance(data.get("rows"), list):
        data = data["rows"]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise InvalidSample.at(
            "file", N_('JSON samples are a list of {"uscc": ..., "outcome": ...} objects.')
        )
    return data
