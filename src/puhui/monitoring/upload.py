"""Reading a watchlist upload: a CSV (UTF-8, with or without BOM, or GB18030) or an XLSX
workbook whose first sheet has a header row with a ``uscc`` column (or
``统一社会信用代码``); an optional ``note`` column (``备注``). Rows are numbered as a
spreadsheet shows them (the header is row 1)."""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass

from puhui.core.i18n import N_

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 50_000
USCC_HEADERS = ("uscc", "统一社会信用代码", "信用代码")
NOTE_HEADERS = ("note", "备注")


@dataclass(frozen=True)
class Row:
    row: int
    uscc: str
    note: str


class UploadRejected(Exception):
    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message)
        self.message = message
        self.params = params


def read_rows(filename: str, content: bytes) -> list[Row]:
    if not content:
        raise UploadRejected(N_("The file is empty."))
    if len(content) > MAX_BYTES:
        raise UploadRejected(N_("The file is larger than {mb} MB."), mb=MAX_BYTES // 2**20)
    if content[:4] == b"PK\x03\x04":
        table = _xlsx(content)
    elif filename.lower().endswith((".xlsx", ".xls")):
        raise UploadRejected(N_("The file is not an XLSX workbook."))
    else:
        table = _csv(content)
    if not table:
        raise UploadRejected(N_("The file has no header row."))
    header = [h.strip().lower() for h in table[0]]
    col = next((header.index(h) for h in USCC_HEADERS if h in header), None)
    if col is None:
        raise UploadRejected(N_("The file has no uscc column."))
    note_col = next((header.index(h) for h in NOTE_HEADERS if h in header), None)
    rows: list[Row] = []
    for number, cells in enumerate(table[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        uscc = cells[col].strip() if col < len(cells) else ""
        note = cells[note_col].strip() if note_col is not None and note_col < len(cells) else ""
        rows.append(Row(number, uscc, note[:200]))
        if len(rows) > MAX_ROWS:
            raise UploadRejected(N_("The file has more than {n} rows."), n=MAX_ROWS)
    return rows


def _csv(content: bytes) -> list[list[str]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise UploadRejected(N_("The file is neither UTF-8 nor GB18030 text."))
    try:
        return list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise UploadRejected(N_("The CSV file cannot be read: {reason}"), reason=str(exc)) from exc


def _xlsx(content: bytes) -> list[list[str]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise UploadRejected(N_("The file is not an XLSX workbook.")) from exc
    try:
        table: list[list[str]] = []
        for values in book.worksheets[0].iter_rows(values_only=True):
            table.append(["" if v is None else _cell(v) for v in values])
            if len(table) > MAX_ROWS + 1:
                break
        return table
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, IndexError) as exc:
        raise UploadRejected(N_("The file is not an XLSX workbook.")) from exc
    finally:
        book.close()


def _cell(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
