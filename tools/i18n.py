"""Message catalog tooling: extract message ids from templates and Python sources and keep
``src/puhui/locale/*/LC_MESSAGES/messages.po`` in step.

    python tools/i18n.py update   # add new ids (keeps translations), drop unused ones
    python tools/i18n.py check    # list ids without a translation; exit 1 if any

Message ids are English. Python ids are found where the platform passes them to the
translation layer: ``N_()``, ``translate()``, ``gettext()``, ``field_error()``, the first
argument of a ``PuhuiError`` subclass, ``default_message`` class attributes, ``"message"``
values of ``details`` dicts, and values of ``*_MESSAGES`` tables. Enum values shown in the
UI (roles, institution kinds, statuses) are ids too.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "src" / "puhui"
LOCALE_DIR = PKG / "locale"
LOCALES = ("zh_CN", "en")
CALLS_ARG0 = {"N_"}
CALLS_ARG1 = {"translate", "gettext", "field_error"}


def _error_classes() -> set[str]:
    sys.path.insert(0, str(ROOT / "src"))
    from puhui import registry
    from puhui.core.errors import PuhuiError

    registry.load_all()
    registry.routers()
    import importlib
    import pkgutil

    import puhui

    for info in pkgutil.walk_packages(puhui.__path__, "puhui."):
        if ".migrations" not in info.name and not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    names: set[str] = {"InvalidUSCC"}
    todo = [PuhuiError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


def code_ids() -> set[str]:
    """Enum values the UI shows through ``_()``."""
    from puhui.core.policy import InstitutionKind, Role

    ids = {r.value for r in Role} | {k.value for k in InstitutionKind}
    ids |= {"pending", "running", "done", "dead", "sent", "ok", "denied", "failed"}
    ids |= {"writing", "committed", "rejected", "reject", "warn", "weekly"}
    from puhui.catalog import file as catalog_file

    ids |= set(catalog_file.CATEGORIES) | set(catalog_file.VALUE_TYPES)
    ids |= set(catalog_file.FREQUENCIES) | set(catalog_file.LEVELS)
    from puhui.entities.places import STATUSES
    from puhui.entities.uscc import EntityKind

    ids |= set(STATUSES) | {k.value for k in EntityKind}
    return ids


def python_ids() -> dict[str, list[str]]:
    error_classes = _error_classes()
    found: dict[str, list[str]] = {}

    def add(value: object, where: str) -> None:
        if isinstance(value, str) and value.strip():
            found.setdefault(value, []).append(where)

    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(ROOT)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            where = f"{rel}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Call):
                name = (
                    node.func.id
                    if isinstance(node.func, ast.Name)
                    else (node.func.attr if isinstance(node.func, ast.Attribute) else "")
                )
                args = [a.value for a in node.args if isinstance(a, ast.Constant)]
                if name in CALLS_ARG0 or name in error_classes:
                    if node.args and isinstance(node.args[0], ast.Constant):
                        add(node.args[0].value, where)
                elif (
                    name in CALLS_ARG1
                    and len(node.args) > 1
                    and isinstance(node.args[1], ast.Constant)
                ):
                    add(node.args[1].value, where)
                del args
            elif isinstance(node, ast.Assign):
                targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
                if "default_message" in targets and isinstance(node.value, ast.Constant):
                    add(node.value.value, where)
                if any(t.endswith("_MESSAGES") for t in targets) and isinstance(
                    node.value, ast.Dict
                ):
                    for v in node.value.values:
                        if isinstance(v, ast.Constant):
                            add(v.value, where)
                if any(t.endswith("_MESSAGE") for t in targets) and isinstance(
                    node.value, ast.Constant
                ):
                    add(node.value.value, where)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                if node.target.id == "default_message" and isinstance(node.value, ast.Constant):
                    add(node.value.value, where)
            elif isinstance(node, ast.Dict):
                for k, v in zip(node.keys, node.values, strict=True):
                    if (
                        isinstance(k, ast.Constant)
                        and k.value == "message"
                        and isinstance(v, ast.Constant)
                    ):
                        add(v.value, where)
    return found


def template_ids() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    method_map = [("**.html", "jinja2")]
    for filename, lineno, message, _comments, _ctx in extract_from_dir(
        str(PKG / "templates"), method_map, keywords={"_": None}
    ):
        if isinstance(message, str):
            found.setdefault(message, []).append(f"templates/{filename}:{lineno}")
    return found


def extract() -> dict[str, list[str]]:
    ids = python_ids()
    for message, where in template_ids().items():
        ids.setdefault(message, []).extend(where)
    for code in code_ids():
        ids.setdefault(code, []).append("enum")
    return ids


def po_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"


def load(locale: str) -> Catalog:
    path = po_path(locale)
    if not path.exists():
        return Catalog(locale=locale, project="puhui", fuzzy=False)
    with path.open("rb") as fh:
        return read_po(fh, locale=locale)


def update() -> None:
    ids = extract()
    for locale in LOCALES:
        old = load(locale)
        new = Catalog(locale=locale, project="puhui", fuzzy=False)
        for message in sorted(ids):
            prev = old.get(message)
            new.add(
                message,
                prev.string if prev is not None else "",
                locations=[
                    (w.rsplit(":", 1)[0], int(w.rsplit(":", 1)[1]) if ":" in w else 0)
                    for w in ids[message][:3]
                ],
            )
        path = po_path(locale)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            write_po(fh, new, width=100, sort_output=True, include_lineno=False)
        print(f"{path.relative_to(ROOT)}: {len(ids)} ids")


def missing(locale: str) -> list[str]:
    catalog = load(locale)
    ids = extract()
    wanted = set(ids) if locale == "zh_CN" else code_ids()
    out = []
    for message in sorted(wanted):
        entry = catalog.get(message)
        if entry is None or not entry.string:
            out.append(message)
    return out


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "check"
    if command == "update":
        update()
    else:
        bad = {loc: missing(loc) for loc in LOCALES}
        for loc, ids in bad.items():
            for message in ids:
                print(f"{loc}: missing translation: {message!r}")
        sys.exit(1 if any(bad.values()) else 0)
