"""Every deployed contract's runtime code against EIP-170 (24,576 bytes) and a committed
snapshot (tests/snapshots/code_sizes.json), so a change in size is seen and decided, not
found when a deployment fails. Regenerate the snapshot with FEDCHAIN_SNAPSHOT=1."""

import json
import os
from pathlib import Path

import pytest

from ml.rules import RULES, adapter_for

EIP170 = 24_576
SNAPSHOT = Path(__file__).parents[1] / "snapshots" / "code_sizes.json"
#: The engines, the column kit, and every registered rule (each creates its engine).
DEPLOYED = ("BatchEngine", "ColumnKit", *(adapter_for(r).contract for r in RULES), "BlobEngine", "BlobPaperRule", "BlobConsortiumRule")
#: The project's rule: every contract keeps 2 KB of room for the next fix or hook.
HEADROOM = 2048


def _sizes(project):
    return {name: len(bytes(getattr(project, name).contract_type.runtime_bytecode.to_bytes())) for name in DEPLOYED}


def test_runtime_code_fits_eip170_and_matches_the_snapshot(project):
    sizes = _sizes(project)
    for name, size in sizes.items():
        print(f"{name}: {size:,} bytes, {EIP170 - size:,} of headroom under EIP-170")
        assert size <= EIP170 - HEADROOM, (name, size, EIP170 - size)
    if os.environ.get("FEDCHAIN_SNAPSHOT"):
        SNAPSHOT.write_text(json.dumps(sizes, indent=2) + "\n")
        pytest.skip("snapshot written")
    assert sizes == json.loads(SNAPSHOT.read_text())
