"""The blob plane's figures in README.md and docs/PROTOCOL.md are the measured ones: each
is formatted from its JSON source (docs/results/bench-blob.json, blob-mlp1m-*.json) and
must appear verbatim, so a re-measurement that changes a figure fails here until the docs
say the new one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = json.loads((ROOT / "docs" / "results" / "bench-blob.json").read_text())
MEAN = json.loads((ROOT / "docs" / "results" / "blob-mlp1m-mean.json").read_text())


def _blob(params: int) -> dict:
    return next(r for r in BENCH["blob"] if r["params"] == params and r["clients"] == 10)


def figures() -> list[tuple[str, str]]:
    big = _blob(1_048_576)
    relay = next(r for r in BENCH["costs"] if r["path"] == "relay" and r["params"] == 1_048_576)
    blob_cost = next(r for r in BENCH["costs"] if r["path"] == "blob" and r["params"] == 1_048_576)
    accs = " / ".join(f"{r['accuracy']:.4f}" for r in MEAN["records"])
    base = " / ".join(f"{r['baseline_accuracy']:.4f}" for r in MEAN["records"])
    return [
        ("README.md", f"{big['execution_gas_per_round']:,} execution gas"),
        ("README.md", f"{big['blobs_per_round']} blobs"),
        ("README.md", f"{big['element_dispute_gas']:,} gas"),
        ("README.md", f"{big['score_dispute_gas']:,}"),
        ("README.md", f"{big['blocks_per_round']} blocks (posts {big['phase_blocks']['post']}, claim "
                      f"{big['phase_blocks']['claim']}, finalize {big['phase_blocks']['finalize']})"),
        ("README.md", f"{blob_cost['l1_cost_eth']:.4f} ETH"),
        ("README.md", f"~{relay['l1_cost_eth']:.2f} ETH"),
        ("README.md", f"{accs} against {base}"),
        ("docs/PROTOCOL.md", f"{big['execution_gas_per_round']:,} execution gas"),
        ("docs/PROTOCOL.md", f"{big['element_dispute_gas']:,} gas"),
        ("docs/PROTOCOL.md", f"{big['score_dispute_gas']:,} gas"),
    ]


@pytest.mark.parametrize("doc,figure", figures(), ids=lambda x: x)
def test_blob_figures_in_the_docs_are_the_measured_ones(doc, figure):
    assert figure in (ROOT / doc).read_text(), f"{doc} does not state {figure!r} (docs/results/*.json)"


def test_every_round_of_the_one_million_parameter_runs_asserted_the_protocol_aggregate():
    for agg in ("mean", "median"):
        run = json.loads((ROOT / "docs" / "results" / f"blob-mlp1m-{agg}.json").read_text())
        assert run["params"] == 1_068_810 and run["clients"] == 10 and len(run["records"]) == 3
        assert all(r["model_blobs_match"] for r in run["records"])
    for r in MEAN["records"]:
        assert abs(r["accuracy"] - r["baseline_accuracy"]) <= 0.002
