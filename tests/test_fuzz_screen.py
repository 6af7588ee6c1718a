"""Fuzz: the screen's source readers (long CSV, long Parquet, FHIR NDJSON) and the
`maswatch screen` command refuse corrupt input cleanly (small CI budget; the large one is
benchmarks/fuzz_screen.py)."""

import sys
from pathlib import Path

from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
import fuzz_harness as fh  # noqa: E402
import fuzz_screen as fs  # noqa: E402


def _cases(name: str) -> st.SearchStrategy[bytes]:
    return st.builds(lambda r: fs.case(name, r), st.randoms(use_true_random=False))


test_long_csv_reader = fh.fuzz_test(fs.target_long_csv, _cases("long-csv"), max_examples=15, deadline_ms=None)
test_long_parquet_reader = fh.fuzz_test(fs.target_long_parquet, _cases("long-parquet"), max_examples=12,
                                        deadline_ms=None)
test_fhir_ndjson_reader = fh.fuzz_test(fs.target_fhir_ndjson, _cases("fhir-ndjson"), max_examples=15, deadline_ms=None)
test_screen_command = fh.fuzz_test(fs.target_screen_cli, _cases("long-csv"), max_examples=4, deadline_ms=None)


def test_seeds_read_cleanly():
    # the unmutated seeds are valid sources: a target that refused everything would pass the fuzz tests
    import duckdb

    from maswatch import sources

    for name, kind, fname, seed in [("csv", "long", "observations.csv", fs.csv_seed()),
                                    ("ndjson", "fhir", "Observation.ndjson", fs.ndjson_seed())]:
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            (Path(d) / fname).write_bytes(seed)
            con = duckdb.connect()
            sources.load(kind, d, con)
            assert con.sql("SELECT count(*) FROM obs").fetchall()[0][0] >= 3, name
