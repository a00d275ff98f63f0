"""Task config files: the shipped configs load, and a CONSENSUS task without a stake is
refused before anything is sent (the contract would refuse it too: `ZeroStake`)."""

from pathlib import Path

import pytest

from ml.node.deployment import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["demo.toml", "testnet.toml"])
def test_shipped_configs_load(name):
    cfg = load_config(ROOT / "configs" / name)
    s, cons = cfg.settings(7850), cfg.consensus()
    assert cfg.contract_name == "ConsensusRule" and cons.stake > 0 and s.duplicate_distance == 1
    assert s.aggregation == "median" and s.replay_rounds == 3
    assert cfg.funding_wei >= s.round_reserve


def test_consensus_without_stake_is_refused(tmp_path):
    p = tmp_path / "free.toml"
    p.write_text('reward_rule = "consensus"\nstake_eth = 0.0\n')
    with pytest.raises(ConfigError, match="stake_eth must be > 0"):
        load_config(p)


def test_trim_that_leaves_no_value_is_refused(tmp_path):
    p = tmp_path / "trim.toml"
    p.write_text('reward_rule = "paper"\naggregation = "trimmed_mean"\ntrim = 2\nmin_participants = 4\n'
                 'max_participants = 5\n')
    with pytest.raises(ConfigError, match="trim 2 must leave a value"):
        load_config(p)
