"""Runs Slither on the production contracts and fails on any result the triage does not
accept (tools/slither/triage.toml). Usage: check.py SLITHER_BIN SOLC [TRIAGE]."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: The production contracts: the batch engine with its two reward rules.
TARGETS = ("contracts/PaperTask.sol", "contracts/ConsensusTask.sol")


def function_of(result: dict) -> str:
    for el in result.get("elements", []):
        if el.get("type") == "function":
            sig = el.get("type_specific_fields", {}).get("signature")
            if sig:
                return sig
        parent = el.get("type_specific_fields", {}).get("parent", {})
        if parent.get("type") == "function":
            return parent.get("type_specific_fields", {}).get("signature", parent.get("name", ""))
    return ""


def main(slither: str, solc: str, triage_path: str = "tools/slither/triage.toml") -> int:
    triage = tomllib.loads((ROOT / triage_path).read_text() if not Path(triage_path).is_absolute()
                           else Path(triage_path).read_text())
    excluded = set(triage.get("detectors", {}))
    accepted = [(a["check"], a["function"]) for a in triage.get("accept", [])]
    for a in triage.get("accept", []):
        if not a.get("reason"):
            print(f"triage entry without a reason: {a}")
            return 2
    results = []
    for target in TARGETS:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "slither.json"
            cmd = [slither, target, "--solc", solc, "--solc-args", "--evm-version prague --optimize --optimize-runs 20",
                   "--exclude", ",".join(sorted(excluded)), "--json", str(out)]
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            if not out.exists():
                print(proc.stdout + proc.stderr)
                return 2
            report = json.loads(out.read_text())
        if not report.get("success", False):
            print(report.get("error"))
            return 2
        results += report.get("results", {}).get("detectors", [])
    new = []
    used = set()
    for r in results:
        fn = function_of(r)
        match = next(((c, f) for c, f in accepted if c == r["check"] and f in ("*", fn)), None)
        if match:
            used.add(match)
        else:
            new.append(r)
    print(f"slither: {len(results)} result(s) after excluding {len(excluded)} detector(s); "
          f"{len(results) - len(new)} accepted by triage, {len(new)} new")
    for c, f in sorted(set(accepted) - used):
        print(f"  note: triage entry no longer matches anything: {c} in {f}")
    for r in new:
        print(f"NEW [{r['impact']}] {r['check']}: {r['description'].strip().splitlines()[0]}")
    return 1 if new else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
