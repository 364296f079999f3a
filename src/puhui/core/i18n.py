"""Message catalogs: Simplified Chinese by default, English beside it.

Message ids are English. Catalogs are the ``.po`` files under ``puhui/locale``, read
with Babel at start-up (no compiled ``.mo`` files to keep in step). A missing
translation falls back to the English id, never to an empty string.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

LOCALES = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"


@cache
def catalog(locale: str) -> Mapping[str, str]:
    path = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        cat = read_po(fh, locale=locale)
    return {
        str(m.id): str(m.string)
        for m in cat
        if m.id and isinstance(m.id, str) and m.string and not m.fuzzy
    }


def normalize_locale(value: str | None, default: str = DEFAULT_LOCALE) -> str:
    if not value:
        return default
    value = value.replace("-", "_")
    for loc in LOCALES:
        if value.lower() == loc.lower() or value.lower().split("_")[0] == loc.lower().split("_")[0]:
            return loc
    return default


def locale_from_accept_language(header: str | None, default: str = DEFAULT_LOCALE) -> str:
    """Pick the first supported language of an ``Accept-Language`` header."""
    if not header:
        return default
    for part in header.split(","):
        tag = part.split(";")[0].strip()
        if not tag or tag == "*":
            continue
        loc = normalize_locale(tag, default="")
        if loc:
            return loc
    return default


def gettext(locale: str, message: str, **params: Any) -> str:
    text = catalog(locale).get(message, message)
    if params:
        try:
            return text.format(**params)
        except (KeyError, IndexError, ValueError):
            return message.format(**params)
    return text


def ngettext(locale: str, singular: str, plural: str, n: int, **params: Any) -> str:
    # Chinese has one form; English picks by n. Both catalogs key on the singular id.
    message = singular if n == 1 or locale == "zh_CN" else plural
    return gettext(locale, message, n=n, **params)


def N_(message: str) -> str:
    """Mark a message for extraction without translating it (translated at render time)."""
    return message
