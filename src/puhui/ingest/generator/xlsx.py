"""A minimal SpreadsheetML workbook: one sheet ``data``, numbers as numbers, text as inline
strings. Deterministic: fixed zip member times and fixed document timestamps (openpyxl's
writer stamps the current time into ``docProps/core.xml`` and costs ~0.2 ms a row)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from xml.sax.saxutils import escape

STAMP = "2000-01-01T00:00:00Z"
ZIP_TIME = (2000, 1, 1, 0, 0, 0)
XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
PKG = "http://schemas.openxmlformats.org/package/2006"
DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
SML = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def _override(part: str, content_type: str) -> str:
    return f'<Override PartName="{part}" ContentType="{content_type}"/>'


def _relationship(rid: str, kind: str, target: str) -> str:
    return f'<Relationship Id="{rid}" Type="{kind}" Target="{target}"/>'


CONTENT_TYPES = (
    f'{XML}<Types xmlns="{PKG}/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    + _override("/xl/workbook.xml", f"{TYPE}.sheet.main+xml")
    + _override("/xl/worksheets/sheet1.xml", f"{TYPE}.worksheet+xml")
    + _override("/xl/styles.xml", f"{TYPE}.styles+xml")
    + _override("/docProps/core.xml", "application/vnd.openxmlformats-package.core-properties+xml")
    + "</Types>"
)
ROOT_RELS = (
    f'{XML}<Relationships xmlns="{PKG}/relationships">'
    + _relationship("rId1", f"{DOC}/officeDocument", "xl/workbook.xml")
    + _relationship("rId2", f"{PKG}/relationships/metadata/core-properties", "docProps/core.xml")
    + "</Relationships>"
)
CORE = (
    f'{XML}<cp:coreProperties xmlns:cp="{PKG}/metadata/core-properties" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    "<dc:creator>puhui synthetic city</dc:creator>"
    f'<dcterms:created xsi:type="dcterms:W3CDTF">{STAMP}</dcterms:created>'
    f'<dcterms:modified xsi:type="dcterms:W3CDTF">{STAMP}</dcterms:modified>'
    "</cp:coreProperties>"
)
WORKBOOK = (
    f'{XML}<workbook xmlns="{SML}" xmlns:r="{DOC}">'
    '<sheets><sheet name="data" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
WORKBOOK_RELS = (
    f'{XML}<Relationships xmlns="{PKG}/relationships">'
    + _relationship("rId1", f"{DOC}/worksheet", "worksheets/sheet1.xml")
    + _relationship("rId2", f"{DOC}/styles", "styles.xml")
    + "</Relationships>"
)
STYLES = (
    f'{XML}<styleSheet xmlns="{SML}">'
    '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


def column_letter(i: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    out = ""
    i += 1
    while i:
        i, rem = divmod(i - 1, 26)
        out = chr(65 + rem) + out
    return out


def _cell(ref: str, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int | float):
        return f'<c r="{ref}"><v>{value!r}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t>{escape(str(value))}</t></is></c>'


def workbook(rows: Sequence[Sequence[object]]) -> bytes:
    """The ``.xlsx`` bytes of one sheet ``data`` holding ``rows`` (the first is the header)."""
    width = max((len(r) for r in rows), default=0)
    letters = [column_letter(i) for i in range(width)]
    body = "".join(
        f'<row r="{n}">'
        + "".join(_cell(f"{letters[i]}{n}", v) for i, v in enumerate(row))
        + "</row>"
        for n, row in enumerate(rows, start=1)
    )
    sheet = f'{XML}<worksheet xmlns="{SML}"><sheetData>{body}</sheetData></worksheet>'
    parts = {
        "[Content_Types].xml": CONTENT_TYPES,
        "_rels/.rels": ROOT_RELS,
        "docProps/core.xml": CORE,
        "xl/workbook.xml": WORKBOOK,
        "xl/_rels/workbook.xml.rels": WORKBOOK_RELS,
        "xl/styles.xml": STYLES,
        "xl/worksheets/sheet1.xml": sheet,
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in parts.items():
            member = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            member.compress_type = zipfile.ZIP_DEFLATED
            member.external_attr = 0o600 << 16
            zf.writestr(member, text.encode("utf-8"))
    return out.getvalue()
