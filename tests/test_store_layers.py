"""The layers are enforced, not hoped for: import-linter's contracts (.importlinter)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


@pytest.mark.skipif(not LINT.exists() and shutil.which("lint-imports") is None,
                    reason="import-linter (dev extra) is not installed")
def test_import_contracts_are_kept():
    exe = str(LINT) if LINT.exists() else shutil.which("lint-imports")
    r = subprocess.run([exe, "--config", str(ROOT / ".importlinter")], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "0 broken" in r.stdout
