"""Readable terminal output (Rich) for evaluation results. Presentation only."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..display import label

_VERDICT_STYLE = {"met": "bold red", "indeterminate": "yellow", "not_met": "green"}
_APPLICABLE = {True: "yes", False: "no", None: "?"}


def _score(r: dict) -> str:
    if "score_display" in r:
        return r["score_display"]
    if "score_min" not in r:
        if "criteria_met" in r:
            return f"{r['criteria_met']}-{r['criteria_possible']} of 8"
        if r.get("ratio") is not None:
            return f"ratio {r['ratio']:g}"
        if r.get("ratio_min") is not None:
            hi = "∞" if r.get("ratio_max") is None else f"{r['ratio_max']:g}"
            return f"ratio {r['ratio_min']:g}-{hi}"
        return ""
    if "score_display" in r:
        return r["score_display"]
    if r["score"] is not None:
        s = f"{r['score']:g}"
        if "probability_text" in r:
            s += f" (p {r['probability_text']})"
        return s
    return f"{r['score_min']:g} to {r['score_max']:g}"


def _evidence(r: dict) -> str:
    """The met items with their values as entered (and in the paper's unit where it differs)."""
    parts = []
    for it in r["items"]:
        if it["status"] in ("met", "scored") and it.get("points", 1) != 0:
            shown = [e["display"] for e in it["inputs"] if "display" in e and not e["display"].endswith(" unknown")
                     and e["input"] != "patient.age_years"]
            parts.append(", ".join(shown) if shown else it["id"].replace("_", " "))
    return "; ".join(parts)


def render_reading(console: Console, result: dict, prefix: str = "") -> None:
    """The one line, then the next steps grouped in their order (bedside, routine, specialised)."""
    if "reading" not in result:
        return
    console.print(Text(prefix + result["reading"]["text"], style="bold"))
    steps = result.get("next_steps") or []
    if not steps:
        console.print(Text("  Next steps: none outstanding in the work-up list.", style="dim"))
        return
    console.print(Text("  Next steps (in order):"))
    groups: dict[str, list[dict]] = {}
    for s in steps:
        groups.setdefault(s["group_title"], []).append(s)
    for n, (title, items) in enumerate(groups.items(), 1):
        what = "; ".join(s["text"] + ("" if s["why"].startswith("not yet recorded") else f" [{s['why'].split(';')[0]}]")
                         for s in items)
        console.print(Text(f"  {n}. {title}: {what}"))


def render_evaluation(console: Console, result: dict) -> None:
    render_reading(console, result)
    title = Text("Snapshot" + (f" {result['id']}" if "id" in result else ""))  # user text: never markup
    table = Table(title=title, title_justify="left", show_lines=False, expand=False)
    table.add_column("instrument", no_wrap=True, min_width=12)
    table.add_column("applies", justify="center", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("score / count", overflow="fold")
    table.add_column("met items (as entered; paper's unit)", overflow="fold", ratio=2)
    table.add_column("to settle it: order / examine", overflow="fold", ratio=2)
    notes: list[str] = []
    outside = {iid: r for iid, r in result["instruments"].items() if r["applicable"] is False}
    for iid, r in result["instruments"].items():
        if iid in outside:
            continue
        table.add_row(
            iid,
            _APPLICABLE[r["applicable"]],
            Text(r["verdict"], style=_VERDICT_STYLE[r["verdict"]]),
            _score(r),
            _evidence(r),
            ", ".join(dict.fromkeys(label(m) for m in r["missing"])),
        )
        notes += [f"{iid}: {x}" for x in r.get("reasons", [])]
        if r["applicable"] is None and r.get("applicability_reason"):
            notes.append(f"{iid}: population not determined: {r['applicability_reason']}")
        notes += [f"{iid}: UNVERIFIED setting {u}" for u in r["unverified"]]
    console.print(table)
    for n in notes:
        console.print(Text("  " + n, style="dim"))
    _render_outside(console, outside)
    console.print(Text("  Decision support only: not a diagnosis.", style="dim italic"))


def _render_outside(console: Console, outside: dict) -> None:
    """Instruments outside their validated population: shown apart, verdicts muted (they
    never headline a result nor raise the alert level)."""
    if not outside:
        return
    t = Table(title="Outside their validated population (for reference only; not used for the alert level)",
              title_justify="left", title_style="dim", style="dim")
    t.add_column("instrument", no_wrap=True, min_width=12)
    t.add_column("would read", no_wrap=True)
    t.add_column("score / count", overflow="fold")
    t.add_column("why outside", overflow="fold", ratio=3)
    for iid, r in outside.items():
        t.add_row(iid, Text(r["verdict"], style="dim"), _score(r), r.get("applicability_reason") or "")
    console.print(t)
