"""`maswatch screen` under hostile and mistaken input (issue 12, items 5-6): corrupt sources,
strict CSV, literal paths, option checks, output-directory safety, CSV formula injection."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from typer.testing import CliRunner

from maswatch.cli import app
from maswatch.errors import InputError
from maswatch.screen import ScreenOptions, screen
from maswatch.screen.columns import csv_ready
from maswatch.screen.episodes import EpisodeRule
from maswatch.sources.writers import write_fhir, write_long_csv, write_mimic

HEADER = "patient_id,time,loinc,value,unit\n"
ROW = "{pid},2024-05-0{d}T08:00:00Z,2276-4,{v},ng/mL\n"


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    """A small SYNTHETIC cohort from the project's generator (Parquet part files, labels)."""
    from maswatch import synth

    d = tmp_path_factory.mktemp("hardening") / "cohort"
    synth.generate(d, 12, 3, ("parquet",), 1)
    return d


@pytest.fixture(scope="module")
def formats(cohort, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("formats")
    out = {"long": root / "long", "fhir": root / "fhir", "mimic": root / "mimic"}
    write_long_csv(cohort, out["long"])
    write_fhir(cohort, out["fhir"])
    write_mimic(cohort, out["mimic"])
    return out


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _cli(*args: str):
    return CliRunner().invoke(app, ["screen", *map(str, args)])


def _digest(d: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir()) if p.is_file()}


def _one_line_refusal(r, *must_contain: str) -> str:
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and r.exception is None or isinstance(r.exception, SystemExit)
    err = r.stderr.strip().splitlines()[-1]
    for s in must_contain:
        assert s in err, err
    assert len(err) < 600
    return err


# ------------------------------------------------------------------ corrupt sources -> exit 2, the file named


def _truncate(f: Path) -> None:
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])


CORRUPTIONS = {
    "truncated parquet": ("long", "observations.parquet", _truncate),
    "garbage parquet": ("long", "observations.parquet", lambda f: f.write_bytes(b"PAR1" + bytes(range(256)) + b"PAR1")),
    "truncated patients parquet": ("long", "patients.parquet", lambda f: f.write_bytes(f.read_bytes()[:100])),
    "malformed ndjson line": ("fhir", "Observation.ndjson",
                              lambda f: f.write_text(f.read_text() + '{"resourceType": "Observation", bad\n')),
    "latin-1 ndjson": ("fhir", "Observation.ndjson",
                       lambda f: f.write_bytes(f.read_bytes().replace(b'"final"', b'"fin\xe9l"', 1))),
    "truncated gzip": ("mimic", "hosp/labevents.csv.gz", _truncate),
    "not gzip": ("mimic", "hosp/labevents.csv.gz", lambda f: f.write_bytes(gzip.decompress(f.read_bytes()))),
    "latin-1 inside gzip": ("mimic", "hosp/labevents.csv.gz", lambda f: f.write_bytes(
        gzip.compress(gzip.decompress(f.read_bytes()).replace(b"mg/dL", b"mg/d\xe9L", 1)))),
    "latin-1 csv": ("long", "observations.csv", lambda f: f.write_bytes(f.read_bytes().replace(b"ng/mL", b"\xb5g/L", 1))),
    "stray quote": ("long", "observations.csv", lambda f: f.write_text(
        f.read_text().replace("\n", '\n"P2', 3).replace('\n"P2', "\n", 2))),
    "empty csv": ("long", "observations.csv", lambda f: f.write_bytes(b"")),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_corrupt_source_is_refused_naming_the_file(case, cohort, formats, tmp_path):
    kind, rel, corrupt = CORRUPTIONS[case]
    src = _copy(cohort if rel.endswith(".parquet") else formats[kind], tmp_path / "src")
    target = src / rel
    if rel.endswith(".parquet"):  # the generator writes a directory of part files per table
        target = sorted((src / rel.split(".")[0]).glob("*.parquet"))[0]
    corrupt(target)
    out = tmp_path / "out"
    r = _cli(src, "--kind", kind, "--out", out)
    _one_line_refusal(r, target.name)
    assert not out.exists()
    with pytest.raises(InputError):
        screen(src, kind, out)


def test_stray_quote_never_becomes_a_patient(formats, tmp_path):
    src = _copy(formats["long"], tmp_path / "src")
    f = src / "observations.csv"
    lines = f.read_text().splitlines(keepends=True)
    lines.insert(3, '"P2,2024-05-01T08:00:00Z,SYN-X,2276-4,ferritin,5000,ng/mL,,final,,\n')
    f.write_text("".join(lines))
    r = _cli(src, "--out", tmp_path / "out")
    _one_line_refusal(r, "observations.csv", "line 4", "quote")


def test_rows_with_wrong_field_count_are_refused_and_counted(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "observations.csv").write_text(
        HEADER + ROW.format(pid="P1", d=1, v=5000) + "P2,2024-05-01T08:00:00Z,2276-4\n"
        + "P3,2024-05-01T08:00:00Z,2276-4,5,ng/mL,extra\n" + ROW.format(pid="P4", d=2, v=9000))
    r = _cli(src, "--out", tmp_path / "out")
    assert r.exit_code == 1, r.output  # the screen ran; some records were refused
    assert "2 malformed CSV row(s)" in r.stderr
    report = pacsv.read_csv(tmp_path / "out" / "unit_report.csv").to_pylist()
    assert {"source": "long", "source_code": "src/observations.csv", "source_unit": None, "reason": "malformed row",
            "rows": 2} in report
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["patients"] == 2  # P1 and P4: the refused rows made no patient


@pytest.mark.parametrize("value", ["abc", '"75,5"', '"1,5e3x"', "NaN", ""])
def test_text_in_a_numeric_column_is_counted_not_fatal(value, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "observations.csv").write_text(HEADER + ROW.format(pid="P1", d=1, v=5000) + ROW.format(pid="P1", d=2, v=value))
    r = _cli(src, "--out", tmp_path / "out")
    assert r.exit_code == 0, r.output
    report = pacsv.read_csv(tmp_path / "out" / "unit_report.csv").to_pylist()
    assert report == [{"source": "long", "source_code": "2276-4", "source_unit": "ng/mL", "reason": "missing value",
                       "rows": 1}]


def test_bad_birth_date_is_counted_and_the_age_unknown(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "observations.csv").write_text(HEADER + ROW.format(pid="P1", d=1, v=5000) + ROW.format(pid="P2", d=1, v=6000))
    (src / "patients.csv").write_text("patient_id,birth_date,sex\nP1,notadate,female\nP2,2015-02-03,male\n")
    r = _cli(src, "--out", tmp_path / "out")
    assert r.exit_code == 0, r.output
    report = pacsv.read_csv(tmp_path / "out" / "unit_report.csv").to_pylist()
    assert {"source": "long", "source_code": "patients.birth_date", "source_unit": None, "reason": "invalid date",
            "rows": 1} in report


# ------------------------------------------------------------------ literal paths, symlinks, bounded messages


def test_glob_characters_in_source_paths_are_literal(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "obs[1].csv").write_text(HEADER + ROW.format(pid="LITERAL", d=1, v=5000))
    (d / "obs1.csv").write_text(HEADER + ROW.format(pid="GLOBBED", d=1, v=5000) + ROW.format(pid="GLOBBED2", d=1, v=1))
    r = _cli(d / "obs[1].csv", "--out", tmp_path / "out")
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["patients"] == 1
    import pyarrow.parquet as pq

    assert pq.read_table(tmp_path / "out" / "points.parquet").column("patient_id").to_pylist() == ["LITERAL"]
    # a directory named src[1] is read as itself; a missing one is not replaced by src1
    shutil.copytree(d, tmp_path / "src1")
    _one_line_refusal(_cli(tmp_path / "src[1]", "--out", tmp_path / "out2"), "does not exist")


@pytest.mark.parametrize("name,kind", [("observations.csv", "long"), ("observations.parquet", "long"),
                                       ("Observation.ndjson", "fhir")])
def test_a_source_symlinked_to_a_system_file_never_echoes_it(name, kind, tmp_path):
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n")
    d = tmp_path / "src"
    d.mkdir()
    os.symlink(secret, d / name)
    r = _cli(d, "--kind", kind, "--out", tmp_path / "out")
    assert r.exit_code == 2, r.output
    assert "root:" not in r.output and "daemon" not in r.output and "nologin" not in r.output


def test_a_megabyte_of_input_is_never_echoed_whole(tmp_path):
    d = tmp_path / "src"
    d.mkdir()
    (d / "observations.csv").write_text("patient_id,time,loinc,value," + "u" * 1_000_000 + "\n")
    r = _cli(d, "--out", tmp_path / "out")
    assert r.exit_code == 2 and len(r.stderr) < 2_000, len(r.stderr)
    r = _cli(d, "--out", tmp_path / "out", "--memory-limit", "[bold]" + "9" * 1_000_000)
    assert r.exit_code == 2 and len(r.stderr) < 2_000 and "[bold]" in r.stderr  # shown literally, cut


# ------------------------------------------------------------------ options and paths checked before any work


BAD_OPTIONS = [
    ("--memory-limit", "banana"), ("--memory-limit", "-1GB"), ("--threads", "-3"), ("--threads", "0"),
    ("--episode-gap-days", "-1"), ("--episode-gap-days", "0"), ("--episode-gap-days", "nan"),
    ("--episode-gap-days", "inf"), ("--engine", "bogus"), ("--kind", "xml"), ("--labels", "{missing}"),
    ("--labels", "{not_labels}"), ("--labels", "{garbage}"),
]


@pytest.mark.parametrize("option,value", BAD_OPTIONS)
def test_bad_option_values_are_refused_before_any_work(option, value, formats, tmp_path, monkeypatch):
    import maswatch.sources as sources

    (tmp_path / "garbage.parquet").write_bytes(b"not parquet at all")
    value = value.format(missing=tmp_path / "nope.parquet", not_labels=formats["long"] / "patients.csv",
                         garbage=tmp_path / "garbage.parquet")
    monkeypatch.setattr(sources, "load", lambda *a, **k: pytest.fail("work started before the options were checked"))
    r = _cli(formats["long"], "--out", tmp_path / "out", option, value)
    _one_line_refusal(r, option)
    assert not (tmp_path / "out").exists()


def test_spark_without_pyspark_is_a_clear_refusal(formats, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyspark" else real(name, *a))
    _one_line_refusal(_cli(formats["long"], "--out", tmp_path / "out", "--engine", "spark"), "--engine", "pyspark")


def test_unusable_out_paths_are_refused(formats, tmp_path):
    (tmp_path / "a_file").write_text("x")
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("precious")
    os.symlink(home, tmp_path / "link")
    for out, says in [(tmp_path / "a_file", "not a directory"), ("/", "root"), ("", "empty"),
                      (home, "holds other files"), (tmp_path / "link", "symbolic link"),
                      (formats["long"], "holds other files")]:
        _one_line_refusal(_cli(formats["long"], "--out", out), "--out", says)
    assert (home / "thesis.tex").read_text() == "precious" and sorted(p.name for p in home.iterdir()) == ["thesis.tex"]
    # the source itself, or a directory holding it, even when it looks like an earlier output
    from maswatch.screen.output_dir import check_out

    with pytest.raises(InputError, match="contains the source"):
        check_out(tmp_path / "empty_parent", tmp_path / "empty_parent" / "src")
    assert check_out(formats["long"] / "out", formats["long"]) == formats["long"] / "out"  # inside it: fine


# ------------------------------------------------------------------ output directory: staging, commit, stale files


def test_a_planted_staging_symlink_is_never_followed(formats, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "episodes.csv").write_text("VICTIM")
    (victim / "keep.txt").write_text("mine")
    out = tmp_path / "out"
    for name in (f".{out.name}.maswatch-partial", f".{out.name}.maswatch-staging"):  # the old and a guessed name
        os.symlink(victim, tmp_path / name)
    r = _cli(formats["long"], "--out", out)
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in victim.iterdir()) == ["episodes.csv", "keep.txt"]
    assert (victim / "episodes.csv").read_text() == "VICTIM"
    assert not (out / "keep.txt").exists()


def test_a_failure_between_writes_leaves_the_previous_run_whole(cohort, tmp_path, monkeypatch):
    out = tmp_path / "out"
    screen(cohort, "long", out, ScreenOptions())
    before = _digest(out)
    import maswatch.screen as screen_pkg
    from maswatch.screen import outputs

    def killed(*a, **k):  # the episodes and evidence files are written; the report is not
        raise KeyboardInterrupt

    monkeypatch.setattr(screen_pkg, "write_manifest", killed)
    with pytest.raises(KeyboardInterrupt):
        screen(cohort, "long", out, ScreenOptions(episode_rule=EpisodeRule(gap_hours=24.0)))
    assert _digest(out) == before
    monkeypatch.undo()
    monkeypatch.setattr(outputs, "write_json", lambda *a, **k: (_ for _ in ()).throw(OSError(28, "No space left")))
    with pytest.raises(OSError):
        screen(cohort, "long", out, ScreenOptions(episode_rule=EpisodeRule(gap_hours=24.0)))
    assert _digest(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging directory left behind


def test_the_commit_is_one_exchange_of_whole_directories(cohort, tmp_path, monkeypatch):
    from maswatch.screen import output_dir

    out = tmp_path / "out"
    screen(cohort, "long", out, ScreenOptions())
    seen = []
    real = output_dir._exchange

    def spy(a, b):  # at the swap, the new run is complete in its own directory, the old one untouched
        seen.append((sorted(p.name for p in Path(a).iterdir()), output_dir.is_complete_output(Path(a)),
                     output_dir.is_complete_output(Path(b))))
        return real(a, b)

    monkeypatch.setattr(output_dir, "_exchange", spy)
    screen(cohort, "long", out, ScreenOptions(write_points=False))
    assert seen and seen[0][1] and seen[0][2] and "points.parquet" not in seen[0][0]
    assert output_dir.is_complete_output(out)


def test_no_stale_file_of_an_earlier_run_survives(cohort, tmp_path):
    out = tmp_path / "out"
    screen(cohort, "long", out, ScreenOptions(), labels=cohort / "labels")
    assert (out / "metrics.json").exists() and (out / "points.parquet").exists()
    screen(cohort, "long", out, ScreenOptions(write_points=False))
    assert not (out / "metrics.json").exists() and not (out / "points.parquet").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["files"]) == {p.name for p in out.iterdir()} - {"manifest.json"}


def test_output_json_is_strict(cohort, tmp_path):
    out = tmp_path / "out"
    screen(cohort, "long", out, ScreenOptions(), labels=cohort / "labels")

    def refuse(c):
        raise ValueError(c)

    for f in ("summary.json", "metrics.json", "manifest.json"):
        json.loads((out / f).read_text(), parse_constant=refuse)


# ------------------------------------------------------------------ CSV formula injection


def test_formula_cells_are_neutralised_in_every_csv(tmp_path):
    import csv

    src = tmp_path / "src"
    src.mkdir()
    ids = ['=HYPERLINK("http://x","open")', "+P2", "-P3", "@P4", "\tP5"]
    mas_day = [("2276-4", 50000, "ng/mL"), ("777-3", 20, "10*9/L"), ("1920-8", 800, "U/L"), ("3255-7", 100, "mg/dL"),
               ("2571-8", 400, "mg/dL"), ("8310-5", 39.5, "Cel")]  # an episode for each patient
    with open(src / "observations.csv", "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["patient_id", "time", "loinc", "value", "unit"])
        for pid in ids:
            for day in (1, 2):
                w.writerows([pid, f"2024-05-0{day}T08:00:00Z", code, v, u] for code, v, u in mas_day)
        for unit in ("=1+1", "@SUM(A1)", "-ng", "+x"):  # units that end in the unit report
            w.writerow(["P9", "2024-05-01T08:00:00Z", "2276-4", 5, unit])
    with open(src / "conditions.csv", "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["patient_id", "code", "onset"])
        w.writerows([pid, "sjia", "2023-01-01T00:00:00Z"] for pid in ids)
    out = tmp_path / "out"
    r = _cli(src, "--out", out)
    assert r.exit_code == 0, r.output
    cells: dict[str, list[str]] = {}
    for f in ("episodes.csv", "evidence.csv", "unit_report.csv"):
        t = pacsv.read_csv(out / f, convert_options=pacsv.ConvertOptions(strings_can_be_null=False))
        cells[f] = [c for col in t.columns if pa.types.is_string(col.type) for c in col.to_pylist() if c]
    every = [c for v in cells.values() for c in v]
    assert not [c for c in every if c[0] in "=+@\t\r" or (c[0] == "-" and not _number(c))]
    for f in ("episodes.csv", "evidence.csv"):
        assert {"'" + i for i in ids} <= set(cells[f]), f
    assert {"'=1+1", "'@SUM(A1)", "'-ng", "'+x"} <= set(cells["unit_report.csv"])


def _number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def test_formula_safe_keeps_numbers_and_plain_text():
    t = pa.table({"a": ["=1+1", "-3.5", "-x", "+44 1234", "@SUM", "\tx", "\rx", "ok", None, "1e5", "-.5", "'", "+7"]})
    assert csv_ready(t).column("a").to_pylist() == [
        "'=1+1", "-3.5", "'-x", "'+44 1234", "'@SUM", "'\tx", "'\rx", "ok", None, "1e5", "-.5", "'", "+7"]
