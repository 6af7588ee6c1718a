"""The family guide's text as reviewed data: structure and sources in ``guide.toml``, words in
gettext message catalogues (``locale/<lang>/LC_MESSAGES/family.po``, read with Babel), and a
``reviewed`` flag per locale (``locales.toml``). English ships and is the fallback for any
message a translation lacks. Pure: reads only the package's own files.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from babel.messages.pofile import read_po

DEFAULT_LOCALE = "en"
DOMAIN = "family"


def _data(name: str):
    return resources.files(__package__).joinpath(name)


@lru_cache(maxsize=None)
def locales() -> dict[str, dict]:
    """Locale code -> {"name", "reviewed"} for every catalogue shipped and listed."""
    listed = tomllib.loads(_data("locales.toml").read_text("utf-8"))
    return {code: {"name": str(v["name"]), "reviewed": bool(v["reviewed"])} for code, v in listed.items()
            if _data(f"locale/{code}/LC_MESSAGES/{DOMAIN}.po").is_file()}


@lru_cache(maxsize=None)
def catalogue(code: str) -> dict[str, str]:
    with _data(f"locale/{code}/LC_MESSAGES/{DOMAIN}.po").open("rb") as f:
        cat = read_po(f, locale=code)
    return {m.id: m.string for m in cat if m.id and m.string and not m.fuzzy}


def choose_locale(requested: str | None, accept_language: str | None) -> str:
    """``?lang=`` if shipped, else the first shipped language of Accept-Language, else English."""
    have = locales()
    if requested and requested in have:
        return requested
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()
        for c in (code, code.split("-")[0]):
            if c in have:
                return c
    return DEFAULT_LOCALE


class Messages:
    """``m("sign.seizure")``: the locale's text, falling back to English; ``{name}`` filled from kwargs."""

    def __init__(self, code: str):
        self.code = code
        self._own = catalogue(code)
        self._en = catalogue(DEFAULT_LOCALE)
        self.reviewed = locales().get(code, {}).get("reviewed", False)

    def __call__(self, key: str, **fmt) -> str:
        text = self._own.get(key) or self._en.get(key)
        if text is None:
            raise KeyError(f"message {key!r} is missing from the English catalogue")
        return text.format(**fmt) if fmt else text


@dataclass(frozen=True)
class Statement:
    key: str
    sources: tuple[str, ...]
    verified: bool


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    tier: str | None
    statements: tuple[Statement, ...]


@lru_cache(maxsize=1)
def structure() -> tuple[tuple[Section, ...], dict[str, dict]]:
    data = tomllib.loads(_data("guide.toml").read_text("utf-8"))
    sources = data["sources"]
    sections = tuple(Section(s["id"], s["title"], s.get("tier"), tuple(
        Statement(st["text"], tuple(st["sources"]), bool(st["verified"])) for st in s["statements"]))
        for s in data["sections"])
    for sec in sections:
        for st in sec.statements:
            unknown = set(st.sources) - set(sources)
            if unknown or not st.sources:
                raise ValueError(f"guide.toml: statement {st.key} names unknown sources {sorted(unknown)}")
    return sections, sources


def guide_view(m: Messages, emergency: str = "112") -> dict:
    """The guide in one locale: sections with their statements' text, source numbers and UNVERIFIED flags;
    ``emergency`` is the local emergency number (``[family] emergency_number``)."""
    sections, sources = structure()
    order: list[str] = []
    out = []
    for sec in sections:
        items = []
        for st in sec.statements:
            nums = []
            for s in st.sources:
                if s not in order:
                    order.append(s)
                nums.append(order.index(s) + 1)
            items.append({"key": st.key, "text": m(st.key), "sources": nums, "verified": st.verified})
        out.append({"id": sec.id, "tier": sec.tier, "title": m(sec.title, emergency=emergency), "items": items,
                    "verified": any(it["verified"] for it in items)})  # False: one UNVERIFIED tag for the section
    refs = [{"n": i + 1, "id": s, **sources[s]} for i, s in enumerate(order)]
    return {"sections": out, "sources": refs}


def guide_text(m: Messages, emergency: str = "112") -> str:
    """The guide's reading text (titles and statements, not the source list): what readability is measured on."""
    view = guide_view(m, emergency)
    parts = [m("guide.title"), m("guide.lead")]
    for sec in view["sections"]:
        parts.append(sec["title"])
        for it in sec["items"]:
            t = it["text"]
            parts.append(t if t.endswith(".") else t + ".")
    return "\n".join(parts)
