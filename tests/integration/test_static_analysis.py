"""`make slither` must fail on any result its triage does not accept (a gate that cannot
fail is no gate): drop one accepted entry and the check reports it as new."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SLITHER = ROOT / ".venv-slither" / "bin"


def run_check(triage: Path) -> subprocess.CompletedProcess:
    assert (SLITHER / "slither").exists(), "the Slither venv is missing: run `make setup`"
    return subprocess.run([str(SLITHER / "python"), "tools/slither/check.py", str(SLITHER / "slither"),
                           "tools/bin/solc-v0.8.37", str(triage)], cwd=ROOT, capture_output=True, text=True)


def test_triage_accepts_the_current_contracts_and_nothing_more(tmp_path):
    full = ROOT / "tools/slither/triage.toml"
    ok = run_check(full.relative_to(ROOT))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    entries = tomllib.loads(full.read_text())
    assert all(a["reason"] for a in entries["accept"]) and all(entries["detectors"].values())
    # the same triage without its timestamp entry: those results are new, the check fails
    text = full.read_text()
    cut = text[:text.index('[[accept]]\ncheck = "timestamp"')]
    reduced = tmp_path / "triage.toml"
    reduced.write_text(cut)
    bad = run_check(reduced)
    assert bad.returncode == 1 and "NEW [Low] timestamp" in bad.stdout, bad.stdout + bad.stderr
