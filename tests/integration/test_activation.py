"""`ape compile` and `ape test` as a new user types them: `make setup`, then
`source .venv/bin/activate`, with nothing exported by hand (a clean environment, not the one
`make test` exports): the activation alone must find anvil and the solc shim."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _clean_shell(script: str) -> subprocess.CompletedProcess:
    env = {"HOME": os.environ.get("HOME", "/root"), "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
    return subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


def test_activated_venv_alone_runs_ape_compile_and_ape_test():
    # One small contract compiled afresh (the shim found and run), not the whole project:
    # the environment is what is under test, and a full via-IR build takes ~25 s.
    res = _clean_shell("source .venv/bin/activate && ape compile contracts/test/MedianHarness.sol --force && "
                       "ape test tests/functional/test_median.py -q -p no:cacheprovider")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    assert "compiled" in out and " passed" in out and "FoundryNotInstalledError" not in out


def test_deactivate_restores_the_environment():
    res = _clean_shell('export APE_DATA_FOLDER=/elsewhere; source .venv/bin/activate; '
                       'echo "$APE_DATA_FOLDER $SOLCX_BINARY_PATH"; deactivate; '
                       'echo "$APE_DATA_FOLDER ${SOLCX_BINARY_PATH-unset} $PATH"')
    inside, after = res.stdout.splitlines()[-2:]
    assert inside == f"{ROOT}/.ape {ROOT}/tools/bin"
    assert after == "/elsewhere unset /usr/local/bin:/usr/bin:/bin"
