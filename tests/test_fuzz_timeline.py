"""Fuzz: `maswatch assess` (through its command function) on mutated timelines — every
outcome an assessment or a clean refusal, strict JSON, bounded, no markup."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import fuzz_harness as fh  # noqa: E402


def target(data: bytes) -> fh.Outcome:
    return fh.target_assess(data, json_out=len(data) % 2 == 0)


test_assess_on_mutated_timelines = fh.fuzz_test(
    target, fh.mutated(fh.timeline_seeds(), [d for _, d in fh.hostile_cases()]), max_examples=120)
