"""Fuzz: `maswatch evaluate` (through its command function) on mutated snapshots — every
outcome a result or a clean refusal (exit 1/2 with a message), strict JSON, no markup."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import fuzz_harness as fh  # noqa: E402


def target(data: bytes) -> fh.Outcome:
    return fh.target_evaluate(data, json_out=len(data) % 2 == 0)  # both outputs, by a stable rule


test_evaluate_on_mutated_snapshots = fh.fuzz_test(
    target, fh.mutated(fh.snapshot_seeds(), [d for _, d in fh.hostile_cases()]), max_examples=120)
