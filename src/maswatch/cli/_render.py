"""Readable terminal output (Rich) for evaluation results. Presentation only."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

_VERDICT_STYLE = {"met": "bold red", "indeterminate": "yellow", "not_met": "green"}
_APPLICABLE = {True: "yes", False: "no", None: "?"}


def _score(r: dict) -> str:
    if "score_min" not in r:
        if "criteria_met" in r:
            return f"{r['criteria_met']}-{r['criteria_possible']} of 8"
        if r.get("ratio") is not None:
            return f"ratio {r['ratio']:g}"
        if r.get("ratio_min") is not None:
            hi = "∞" if r.get("ratio_max") is None else f"{r['ratio_max']:g}"
            return f"ratio {r['ratio_min']:g}-{hi}"
        return ""
    if r["score"] is not None:
        s = f"{r['score']:g}"
        if "probability_text" in r:
            s += f" (p {r['probability_text']})"
        return s
    return f"{r['score_min']:g} to {r['score_max']:g}"


def _evidence(r: dict) -> str:
    parts = []
    for it in r["items"]:
        if it["status"] in ("met", "scored") and it.get("points", 1) != 0:
            vals = [f"{e['value']:g}" if isinstance(e.get("value"), (int, float)) and not isinstance(e.get("value"), bool)
                    else (e.get("censored", "") + f"{e['bound']:g}" if e.get("bound") is not None else "")
                    for e in it["inputs"]]
            vals = [v for v in vals if v]
            parts.append(it["id"] + (f" {'/'.join(vals)}" if vals else ""))
    return ", ".join(parts)


def render_evaluation(console: Console, result: dict) -> None:
    title = "Snapshot" + (f" {result['id']}" if "id" in result else "")
    table = Table(title=title, title_justify="left", show_lines=False, expand=False)
    table.add_column("instrument", no_wrap=True, min_width=12)
    table.add_column("applies", justify="center", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("score / count", overflow="fold")
    table.add_column("met items (canonical units)", overflow="fold", ratio=2)
    table.add_column("to settle it: order / examine", overflow="fold", ratio=2)
    notes: list[str] = []
    for iid, r in result["instruments"].items():
        table.add_row(
            iid,
            _APPLICABLE[r["applicable"]],
            Text(r["verdict"], style=_VERDICT_STYLE[r["verdict"]]),
            _score(r),
            _evidence(r),
            ", ".join(m.split(".", 1)[1] for m in r["missing"]),
        )
        notes += [f"{iid}: {x}" for x in r.get("reasons", [])]
        notes += [f"{iid}: UNVERIFIED setting {u}" for u in r["unverified"]]
    console.print(table)
    for n in notes:
        console.print(Text("  " + n, style="dim"))
    console.print(Text("  Decision support only: not a diagnosis.", style="dim italic"))
