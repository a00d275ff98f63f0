"""Runs Slither on the production contracts and fails on any result the triage does not
accept (tools/slither/triage.toml). Usage: check.py SLITHER_BIN SOLC [TRIAGE].

Slither's raw results are cached in .slither-cache/, keyed by every contract source, the
excluded detectors, the compiler arguments and Slither's own version: the gate's test runs
the check twice more (full and reduced triage) on the analysis `make slither` just made,
instead of re-running Slither (~20 s each). Any change to the key re-runs it."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: The production contracts: every deployable reward rule (each with the engine it creates;
#: the abstract bases come with them).
TARGETS = tuple(sorted(str(p.relative_to(ROOT)) for p in (ROOT / "contracts" / "rules").glob("*Rule.sol")
                       if "abstract contract" not in p.read_text()))
#: The project's compiler settings (ape-config.yaml).
SOLC_ARGS = "--evm-version prague --optimize --optimize-runs 20 --via-ir"
CACHE = ROOT / ".slither-cache"


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


def _cache_key(slither: str, solc: str, excluded: set[str]) -> str:
    version = subprocess.run([slither, "--version"], capture_output=True, text=True).stdout.strip()
    h = hashlib.sha256(f"{version}|{solc}|{SOLC_ARGS}|{','.join(sorted(excluded))}|{TARGETS}".encode())
    for path in sorted((ROOT / "contracts").rglob("*.sol")):
        h.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _analyse(slither: str, solc: str, excluded: set[str]) -> list[dict] | None:
    """Slither's detector results on TARGETS (cached), or None when it failed (printed)."""
    cached = CACHE / f"{_cache_key(slither, solc, excluded)}.json"
    if cached.exists():
        return json.loads(cached.read_text())
    results = []
    for target in TARGETS:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "slither.json"
            cmd = [slither, target, "--solc", solc, "--solc-args", SOLC_ARGS,
                   "--exclude", ",".join(sorted(excluded)), "--json", str(out)]
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            if not out.exists():
                print(proc.stdout + proc.stderr)
                return None
            report = json.loads(out.read_text())
        if not report.get("success", False):
            print(report.get("error"))
            return None
        results += report.get("results", {}).get("detectors", [])
    CACHE.mkdir(exist_ok=True)
    cached.write_text(json.dumps(results))
    return results


def main(slither: str, solc: str, triage_path: str = "tools/slither/triage.toml") -> int:
    triage = tomllib.loads((ROOT / triage_path).read_text() if not Path(triage_path).is_absolute()
                           else Path(triage_path).read_text())
    excluded = set(triage.get("detectors", {}))
    accepted = [(a["check"], a["function"]) for a in triage.get("accept", [])]
    for a in triage.get("accept", []):
        if not a.get("reason"):
            print(f"triage entry without a reason: {a}")
            return 2
    results = _analyse(slither, solc, excluded)
    if results is None:
        return 2
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
