"""Write, or compare against, the exact ``maswatch assess --json`` text of many SYNTHETIC patients.

A performance change must not change a single output byte. Write the outputs with the code
before the change, then compare with the code after it:

    python benchmarks/assess_outputs.py write  OUT_DIR  [--timelines DIR ...]
    python benchmarks/assess_outputs.py compare OUT_DIR [--timelines DIR ...]

Inputs: the timelines in ``examples/``, every ``*.json`` timeline under each ``--timelines``
directory (e.g. ``maswatch synth --format timeline --mas-scale 20``), and two generated
courses of ``bench_assess.py`` (300 and 2,000 observations). Each is assessed at its last
result and at three earlier times (a quarter, half and three quarters through its span), so
episodes are seen starting, in progress and after remission. The text is what the CLI prints:
``jsondoc.dumps(Rules().assess(tl, at).to_json())``. ``compare`` exits 1 and names every
file that differs, with the first differing JSON path.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_assess  # noqa: E402

from maswatch import jsondoc, timeline  # noqa: E402
from maswatch.rules import DEFAULT_RULES  # noqa: E402
from maswatch.timeline.observations import from_us  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def cases(dirs: list[Path]) -> list[tuple[str, dict]]:
    out = [(p.stem, json.loads(p.read_text("utf-8"))) for p in sorted((ROOT / "examples").glob("timeline_*.json"))]
    for k, d in enumerate(dirs):
        out += [(f"dir{k}_{p.stem}", json.loads(p.read_text("utf-8"))) for p in sorted(d.rglob("*.json"))]
    out += [("bench300", bench_assess.synthetic_timeline(300, seed=11)),
            ("bench2000", bench_assess.synthetic_timeline(2000))]
    return out


def outputs(name: str, doc: dict) -> dict[str, str]:
    tl = timeline.parse(doc)
    times = tl.table.times()
    ats: list[datetime | None] = [None]
    if len(times) > 1:
        lo, hi = int(times[0]), int(times[-1])
        ats += [from_us(lo + (hi - lo) * q // 4) for q in (1, 2, 3)]
    res = {}
    for k, at in enumerate(ats):
        res[f"{name}@{k}.json"] = jsondoc.dumps(DEFAULT_RULES.assess(tl, at).to_json())
    return res


def first_difference(a, b, path: str = "$") -> str:
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, dict):
        if list(a) != list(b):
            return f"{path}: keys {list(a)} vs {list(b)}"
        for k in a:
            if a[k] != b[k] or type(a[k]) is not type(b[k]):
                return first_difference(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: length {len(a)} vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y or type(x) is not type(y):
                return first_difference(x, y, f"{path}[{i}]")
    elif a != b:
        return f"{path}: {jsondoc.shorten(repr(a), 100)} vs {jsondoc.shorten(repr(b), 100)}"
    return f"{path}: same values, different text (number formatting or key order)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("write", "compare"))
    ap.add_argument("out", type=Path)
    ap.add_argument("--timelines", type=Path, action="append", default=[])
    args = ap.parse_args()
    if args.mode == "write":
        args.out.mkdir(parents=True, exist_ok=True)
    n = differ = 0
    for name, doc in cases(args.timelines):
        for fname, text in outputs(name, doc).items():
            n += 1
            path = args.out / fname
            if args.mode == "write":
                path.write_text(text, "utf-8")
            elif not path.exists():
                differ += 1
                print(f"MISSING {fname}")
            elif (old := path.read_text("utf-8")) != text:
                differ += 1
                print(f"DIFFERS {fname}: {first_difference(json.loads(old), json.loads(text))}")
    print(f"SYNTHETIC: {n} outputs {'written' if args.mode == 'write' else 'compared'}"
          + ("" if args.mode == "write" else f", {differ} differ"))
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
