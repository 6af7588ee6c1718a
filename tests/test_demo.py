"""maswatch demo: follows a generated MAS episode at onset, peak and response (SYNTHETIC)."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from maswatch.cli import app
from maswatch.cli.demo import choose_episode, teaching_moments

runner = CliRunner()
UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    r = runner.invoke(app, ["demo", "--out", str(out), "--patients", "40", "--seed", "2026"])
    assert r.exit_code == 0, r.output
    return out, r.stdout


def test_demo_follows_a_patient_the_generator_gave_an_mas_episode(demo_run):
    out, text = demo_run
    labels = pq.read_table(out / "cohort" / "labels").to_pandas()
    pid = re.search(r"Patient (SYN-\d+) \(SYNTHETIC\): the generator gave an MAS episode", text).group(1)
    assert pid in set(labels.loc[labels.kind == "mas", "patient_id"])
    assert pid == choose_episode(labels)["patient_id"]


def test_demo_shows_onset_peak_and_response_in_order_with_what_each_shows(demo_run):
    _, text = demo_run
    heads = re.findall(r"^(ONSET|PEAK|RESPONSE) — (\S+ \S+) UTC .*SYNTHETIC$", text, re.M)
    assert [h[0] for h in heads] == ["ONSET", "PEAK", "RESPONSE"]
    times = [dt.datetime.fromisoformat(h[1]) for h in heads]
    assert times == sorted(times) and len(set(times)) == 3
    blocks = re.split(r"^(?:ONSET|PEAK|RESPONSE) — ", text, flags=re.M)[1:]
    for b in blocks:
        assert re.search(r"^  (NONE|WATCH|CONCERN|ALERT)\b", b, re.M)  # the one-line reading
        assert "labs in use: ferritin" in b and "  episode: " in b and "maswatch assess " in b
    onset, peak, response = blocks
    assert "episode: active" in peak  # at the peak maswatch has an episode, not "no episode"
    assert "episode: active" in response or "episode: remission" in response or "in remission" in response
    assert re.search(r"ferritin [\d.]+% below its peak", response)


def test_the_printed_assess_command_reproduces_the_moment(demo_run):
    _, text = demo_run
    cmd = re.search(r"full assessment: maswatch assess (\S+) --at (\S+)", text.split("PEAK — ")[1])
    r = runner.invoke(app, ["assess", cmd.group(1), "--at", cmd.group(2), "--json"])
    assert r.exit_code == 0, r.output
    import json
    level = json.loads(r.stdout)["assessment"]["alert_level"].upper()
    assert re.search(rf"^  {level}\b", text.split("PEAK — ")[1], re.M)


def test_demo_report_charts_parse_and_include_episode_windows(demo_run):
    out, _ = demo_run
    html = (out / "screen" / "report.html").read_text()
    svgs = re.findall(r"<svg.*?</svg>", html, re.S)
    assert len(svgs) > 6
    for s in svgs:
        ET.fromstring(s)
    assert "<section class='episode'>" in html and "SYNTHETIC" in html


def _labels(rows):
    df = pd.DataFrame(rows, columns=["patient_id", "episode_id", "kind", "onset", "peak", "resolution", "severity"])
    for c in ("onset", "peak", "resolution"):
        df[c] = pd.to_datetime(df[c], utc=True)
    return df


def test_choose_episode_prefers_a_survived_moderate_or_severe_mas_episode():
    t = "2024-01-01"
    rows = [("P1", "P1-E1", "flare", t, t, t, "severe"),
            ("P2", "P2-E1", "mas", t, t, None, "fatal"),
            ("P3", "P3-E1", "mas", t, t, "2024-01-10", "mild"),
            ("P4", "P4-E2", "mas", "2024-03-01", t, "2024-03-10", "moderate"),
            ("P4", "P4-E1", "mas", "2024-02-01", t, "2024-02-10", "severe")]
    assert choose_episode(_labels(rows))["episode_id"] == "P4-E1"
    assert choose_episode(_labels(rows[:3]))["episode_id"] == "P3-E1"  # only a mild one left
    assert choose_episode(_labels(rows[:2])) is None  # no MAS episode the patient survived


def test_teaching_moments_use_the_first_result_at_or_after_each_time():
    ep = _labels([("P", "P-E1", "mas", "2024-01-02 00:00", "2024-01-04 00:00", "2024-01-10 00:00", "moderate")]).iloc[0]
    times = [dt.datetime(2024, 1, d, 8, tzinfo=UTC) for d in (1, 2, 5, 7, 8)]
    m = teaching_moments(ep, times)
    assert [x.name for x in m] == ["onset", "peak", "response"]
    assert [x.at.day for x in m] == [2, 5, 7]  # response target: 2024-01-07 00:00 -> first result 01-07 08:00
    assert [x.name for x in teaching_moments(ep, times[:2])] == ["onset"]  # no results after the peak yet
