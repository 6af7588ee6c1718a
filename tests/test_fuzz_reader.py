"""Fuzz: the strict JSON reader (maswatch.jsondoc) refuses cleanly or returns strict JSON
values, on mutated snapshots and timelines, hostile cases and arbitrary bytes."""

import sys
from pathlib import Path

from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
import fuzz_harness as fh  # noqa: E402

SEEDS = fh.snapshot_seeds() + fh.timeline_seeds()
HOSTILE = [data for _, data in fh.hostile_cases()]

test_reader_on_mutated_documents = fh.fuzz_test(fh.target_reader, fh.mutated(SEEDS, HOSTILE), max_examples=300)
test_fast_path_agrees_on_mutated_documents = fh.fuzz_test(fh.target_reader_paths, fh.mutated(SEEDS, HOSTILE),
                                                         max_examples=300)
test_reader_on_arbitrary_bytes = fh.fuzz_test(fh.target_reader, st.binary(max_size=512), max_examples=200)
test_reader_on_arbitrary_text = fh.fuzz_test(
    fh.target_reader, st.text(alphabet=st.sampled_from('{}[]":,0123456789eE+-.tfnrulasNIy\\ud800 \n\u00b0'),
                              max_size=300).map(lambda s: s.encode("utf-8", "surrogatepass")), max_examples=200)
