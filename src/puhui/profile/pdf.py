"""The credit report as a PDF (reportlab), in Chinese with an embedded CJK font.

The font is looked for in ``PUHUI_REPORT_FONT`` and then in the places Debian's
``fonts-wqy-microhei``, ``fonts-wqy-zenhei`` and ``fonts-noto-cjk`` install to (CI and
``make`` install the first). Without one, the PDF uses the standard CJK font
``STSong-Light``, which every PDF reader renders from its own fonts: never empty boxes.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from puhui.core.i18n import N_
from puhui.profile.schemas import CreditReport, IndicatorValue

SHANGHAI = ZoneInfo("Asia/Shanghai")
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
)
EMBEDDED = "PuhuiCJK"
STANDARD = "STSong-Light"


@cache
def font_name() -> str:
    """The registered font: an embedded TrueType CJK font when one is found."""
    wanted = os.environ.get("PUHUI_REPORT_FONT")
    for path in ([wanted] if wanted else []) + list(FONT_CANDIDATES):
        if path and Path(path).is_file():
            try:
                pdfmetrics.registerFont(TTFont(EMBEDDED, path, subfontIndex=0))
            except Exception:  # noqa: S112 - a damaged font file: try the next one
                continue
            return EMBEDDED
    pdfmetrics.registerFont(UnicodeCIDFont(STANDARD))
    return STANDARD


def _value(v: IndicatorValue) -> str:
    if v.masked and v.value is None:
        return "******"
    if v.value is None:
        return ""
    if isinstance(v.value, bool):
        return "是" if v.value else "否"
    if isinstance(v.value, float):
        return f"{v.value:,.4f}".rstrip("0").rstrip(".") if abs(v.value) < 10 else f"{v.value:,.2f}"
    return str(v.value)


def render(report: CreditReport, gettext: Callable[[str], str]) -> bytes:
    """The report as PDF bytes. ``gettext`` translates the labels."""
    font = font_name()
    _ = gettext
    base = ParagraphStyle("base", fontName=font, fontSize=8.5, leading=11)
    title = ParagraphStyle("title", parent=base, fontSize=16, leading=22, alignment=1)
    heading = ParagraphStyle("heading", parent=base, fontSize=11, leading=15, spaceBefore=6)
    meta, profile = report.report, report.profile
    facts = profile.entity
    when = meta.generated_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    story: list[Any] = [
        Paragraph(_(N_("Enterprise credit information report")), title),
        Spacer(1, 3 * mm),
        _grid(
            [
                [_(N_("Report number")), meta.number, _(N_("Generated at")), when],
                [
                    _(N_("Requested by")),
                    f"{meta.requester_institution or ''} {meta.requester}".strip(),
                    _(N_("Purpose")),
                    _(meta.purpose),
                ],
                [
                    _(N_("Authorization")),
                    "" if meta.consent_id is None else f"#{meta.consent_id}",
                    _(N_("Authorization expires")),
                    ""
                    if meta.consent_expires_at is None
                    else meta.consent_expires_at.astimezone(SHANGHAI).strftime("%Y-%m-%d"),
                ],
                [_(N_("Verification code")), meta.verification_code, "", ""],
            ],
            base,
            widths=(28, 62, 32, 58),
        ),
        Paragraph(_(N_("Basic facts")), heading),
        _grid(
            [
                [_(N_("Name")), facts.name, _(N_("USCC")), facts.uscc],
                [_(N_("Entity kind")), _(facts.kind), _(N_("District")), facts.district],
                [
                    _(N_("Industry")),
                    f"{facts.industry_section or ''} {facts.industry_division or ''}",
                    _(N_("Status")),
                    _(facts.status),
                ],
                [
                    _(N_("Registered capital")),
                    "" if facts.registered_capital is None else f"{facts.registered_capital:,}",
                    _(N_("Established")),
                    "" if facts.established is None else facts.established.isoformat(),
                ],
            ],
            base,
            widths=(28, 62, 32, 58),
        ),
    ]
    rep = profile.legal_representative
    if rep is not None:
        story.append(
            _grid(
                [
                    [
                        _(N_("Legal representative")),
                        rep.name or "",
                        _(N_("ID number")),
                        rep.id_number or "",
                    ]
                ],
                base,
                widths=(28, 62, 32, 58),
            )
        )
    if profile.health is not None and profile.health.score is not None:
        h = profile.health
        story.append(Paragraph(_(N_("Business-health score")), heading))
        lines = [[_(N_("Score")), f"{h.score:.1f}", _(N_("Grade")), h.grade or ""]]
        for r in h.raised_by:
            lines.append([_(N_("Raised by")), r.name, f"+{r.points}", ""])
        for r in h.lowered_by:
            lines.append([_(N_("Lowered by")), r.name, f"{r.points}", ""])
        story.append(_grid(lines, base, widths=(28, 92, 30, 30)))
        story.append(Paragraph(h.method, base))
    if profile.negative_records:
        story.append(Paragraph(_(N_("Negative records")), heading))
        rows = [[_(N_("Record")), _(N_("Value")), _(N_("Status")), _(N_("Periods"))]]
        for n in profile.negative_records:
            status = _(n.status) + (f" ({_(N_('under objection'))})" if n.under_objection else "")
            rows.append([n.name, str(n.value), status, f"{n.first_period} - {n.last_period}"])
        story.append(_grid(rows, base, widths=(80, 30, 25, 45), header=True))
    for block in profile.categories:
        shown = [v for v in block.indicators if v.value is not None or v.masked]
        story.append(Paragraph(f"{block.name} ({len(shown)})", heading))
        if not shown:
            story.append(Paragraph(_(N_("No data.")), base))
            continue
        rows = [[_(N_("Indicator")), _(N_("Value")), _(N_("Period")), _(N_("Source"))]]
        for v in shown:
            unit = f" {v.unit_label}" if v.unit_label and v.value is not None else ""
            rows.append(
                [
                    v.name,
                    _value(v)
                    + unit
                    + (f" ({_(N_('under objection'))})" if v.under_objection else ""),
                    "" if v.period is None else str(v.period),
                    "" if v.source is None else v.source.department,
                ]
            )
        story.append(_grid(rows, base, widths=(78, 52, 18, 32), header=True))
    if profile.withheld:
        story.append(Spacer(1, 2 * mm))
        story.append(
            Paragraph(
                _(N_("Not covered by the authorization: "))
                + "、".join(_(c) for c in profile.withheld),
                base,
            )
        )
    story.append(Spacer(1, 4 * mm))
    story.append(
        Paragraph(
            _(
                N_("Check this report at /api/v1/reports/NUMBER/verify with its verification code.")
            ).replace("NUMBER", meta.number),
            base,
        )
    )
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=f"{meta.number} {facts.name}",
        author="Puhui",
    )

    def footer(canvas: Any, document: Any) -> None:
        canvas.saveState()
        canvas.setFont(font, 7.5)
        canvas.drawString(15 * mm, 8 * mm, f"{meta.number}  {meta.verification_code}")
        canvas.drawRightString(195 * mm, 8 * mm, str(document.page))
        canvas.restoreState()

    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()


def _grid(
    rows: list[list[str]],
    style: ParagraphStyle,
    *,
    widths: tuple[int, ...],
    header: bool = False,
) -> Table:
    """A table whose cells are plain strings where they fit their column and wrapped
    paragraphs where they do not (a paragraph costs ~50x a string to lay out)."""
    fits = [int(w * mm / (style.fontSize * 1.02)) for w in widths]  # CJK glyphs are ~1 em
    cells = [
        [c if len(c) <= fits[i] else Paragraph(_escape(c), style) for i, c in enumerate(row)]
        for row in rows
    ]
    table = Table(cells, colWidths=[w * mm for w in widths], repeatRows=1 if header else 0)
    commands: list[Any] = [
        ("FONTNAME", (0, 0), (-1, -1), style.fontName),
        ("FONTSIZE", (0, 0), (-1, -1), style.fontSize),
        ("LEADING", (0, 0), (-1, -1), style.leading),
        ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
    if header:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef7")))
    table.setStyle(TableStyle(commands))
    return table


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
