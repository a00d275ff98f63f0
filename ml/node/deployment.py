"""Task config files (TOML or YAML) and deployment records.

A config file says what to deploy; `ape run deploy` validates it, deploys, funds, sets the
initial model, opens round 1 and writes a deployment record (JSON) that `client`, `keeper`,
`buy_access` and `download_model` read. Every problem is a `ConfigError` with a one-line
message naming the file and the field.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..models import MODELS
from ..rules import RULES, adapter_for
from ..settings import AGGREGATIONS, BatchSettings, ConsensusSettings

WEI_PER_ETH = 10**18


class ConfigError(ValueError):
    """A config file or deployment record that cannot be used, with a one-line reason."""


@dataclass(frozen=True)
class DeployConfig:
    """What a task config file says: everything it may set, times in seconds, money in ETH
    (floats), with defaults. ``settings()`` turns it into the contracts' settings."""

    model: str = "logreg"
    dataset: str = "mnist"
    seed: int = 0
    frac_bits: int = 12
    value_bits: int = 16
    commit_duration: int = 600  # CONSENSUS: the commit phase (always runs its course)
    post_duration: int = 600  # posting (PAPER) or reveal (CONSENSUS) phase; closes early when every seat posted
    min_participants: int = 1
    max_participants: int = 5
    reward_rule: str = "consensus"
    aggregation: str = "mean"
    trim: int = 0
    tier_thresholds: tuple[int, ...] = (400, 700, 1000)
    tier_rewards_eth: tuple[float, ...] = (0.003, 0.002, 0.001)
    keeper_fee_eth: float = 0.0
    stake_eth: float = 0.01
    min_move: int = 3
    max_move: int = 400
    max_move_ratio: int = 0
    duplicate_distance: int = 0
    replay_rounds: int = 0
    access_price_eth: float = 0.01
    funding_eth: float = 1.0
    column_words: int = 0
    max_relayed: int = -1  # updates a relay may carry; -1: every seat if a fully relayed column fits, else 0

    def settings(self, param_count: int) -> BatchSettings:
        return BatchSettings(
            param_count=param_count, frac_bits=self.frac_bits, value_bits=self.value_bits,
            post_duration=self.post_duration, min_participants=self.min_participants,
            max_participants=self.max_participants, access_price=_wei(self.access_price_eth),
            tier_thresholds=tuple(self.tier_thresholds), tier_rewards=tuple(_wei(x) for x in self.tier_rewards_eth),
            aggregation=self.aggregation, trim=self.trim, column_words=self.column_words,
            duplicate_distance=self.duplicate_distance, replay_rounds=self.replay_rounds,
            keeper_fee=_wei(self.keeper_fee_eth), max_relayed=None if self.max_relayed < 0 else self.max_relayed,
            rule=self.reward_rule,
        )

    def consensus(self) -> ConsensusSettings | None:
        """The CONSENSUS rule's settings; None under other rules."""
        if self.reward_rule != "consensus":
            return None
        return ConsensusSettings(commit_duration=self.commit_duration, stake=_wei(self.stake_eth),
                                 min_move=self.min_move, max_move=self.max_move, max_move_ratio=self.max_move_ratio)

    @property
    def contract_name(self) -> str:
        """The rule contract this config deploys (a name in the ape project; it creates the engine)."""
        return adapter_for(self.reward_rule).contract

    @property
    def funding_wei(self) -> int:
        return _wei(self.funding_eth)


def _wei(eth: float) -> int:
    return int(round(eth * WEI_PER_ETH))


def load_config(path: Path | str) -> DeployConfig:
    """Reads and validates a TOML (.toml) or YAML (.yaml/.yml) task config."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such config file")
    try:
        if p.suffix == ".toml":
            raw = tomllib.loads(p.read_text())
        elif p.suffix in (".yaml", ".yml"):
            import yaml

            raw = yaml.safe_load(p.read_text()) or {}
        else:
            raise ConfigError(f"{p}: config must be .toml, .yaml or .yml")
    except (tomllib.TOMLDecodeError, ValueError) as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(f"{p}: not valid {p.suffix[1:].upper()}: {str(err).splitlines()[0]}") from err
    except Exception as err:  # yaml.YAMLError without importing yaml at module level
        raise ConfigError(f"{p}: not valid YAML: {str(err).splitlines()[0]}") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: expected a table of settings at the top level")
    raw = raw.get("task", raw)  # allow a [task] table
    known = {f.name: f for f in fields(DeployConfig)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"{p}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(known)}")
    values: dict[str, Any] = {}
    defaults = DeployConfig()
    for name, value in raw.items():
        expected = type(getattr(defaults, name))
        if expected is tuple:
            if not isinstance(value, list) or not value:
                raise ConfigError(f"{p}: {name} must be a non-empty list")
            value = tuple(value)
        elif expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif not isinstance(value, expected) or isinstance(value, bool):
            raise ConfigError(f"{p}: {name} must be {expected.__name__}, got {type(value).__name__} {value!r}")
        values[name] = value
    cfg = DeployConfig(**values)
    _validate(cfg, p)
    return cfg


def _validate(cfg: DeployConfig, p: Path) -> None:
    def bad(msg: str) -> ConfigError:
        return ConfigError(f"{p}: {msg}")

    if cfg.model not in MODELS:
        raise bad(f"model must be one of {', '.join(MODELS)}, got {cfg.model!r}")
    if cfg.dataset not in ("mnist", "digits"):
        raise bad(f"dataset must be mnist or digits, got {cfg.dataset!r}")
    if cfg.reward_rule not in RULES:
        raise bad(f"reward_rule must be one of {', '.join(RULES)}, got {cfg.reward_rule!r}")
    if cfg.aggregation not in AGGREGATIONS:
        raise bad(f"aggregation must be one of {', '.join(AGGREGATIONS)}, got {cfg.aggregation!r}")
    if cfg.aggregation == "trimmed_mean" and not 0 < 2 * cfg.trim < cfg.min_participants:
        raise bad(f"trim {cfg.trim} must leave a value: need 0 < 2 x trim < min_participants")
    if len(cfg.tier_thresholds) != len(cfg.tier_rewards_eth):
        raise bad("tier_thresholds and tier_rewards_eth must have the same length")
    if any(b <= a for a, b in zip(cfg.tier_thresholds, cfg.tier_thresholds[1:])):
        raise bad("tier_thresholds must be strictly ascending")
    if min(cfg.tier_rewards_eth) < 0 or min(cfg.stake_eth, cfg.access_price_eth, cfg.funding_eth, cfg.keeper_fee_eth) < 0:
        raise bad("amounts of ETH must be >= 0")
    if not 0 < cfg.min_participants <= cfg.max_participants:
        raise bad("need 0 < min_participants <= max_participants")
    if cfg.reward_rule == "consensus" and cfg.stake_eth <= 0:
        raise bad("stake_eth must be > 0 under the consensus rule (seats and declarations would be free)")
    if cfg.commit_duration <= 0 or cfg.post_duration <= 0:
        raise bad("commit_duration and post_duration must be > 0 seconds")
    try:
        settings = cfg.settings(1)
    except ValueError as err:
        raise bad(str(err)) from err
    reserve = settings.round_reserve / WEI_PER_ETH
    if cfg.funding_eth < reserve:
        raise bad(f"funding_eth {cfg.funding_eth} cannot open one round: it needs max(tier_rewards_eth) x "
                  f"max_participants + keeper_fee_eth x columns = {reserve}")


@dataclass
class DeploymentRecord:
    """Where a task lives and how it was configured; written by `ape run deploy`."""

    address: str
    chain_id: int
    network: str
    deployer: str
    block: int
    param_count: int
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def deploy_config(self) -> DeployConfig:
        c = dict(self.config)
        for k in ("tier_thresholds", "tier_rewards_eth"):
            c[k] = tuple(c[k])
        return DeployConfig(**c)


    def save(self, path: Path | str) -> None:
        atomic_write(Path(path), json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path | str) -> "DeploymentRecord":
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{p}: no deployment record (run `ape run deploy` first)")
        try:
            raw = json.loads(p.read_text())
            return cls(**raw)
        except (json.JSONDecodeError, TypeError) as err:
            raise ConfigError(f"{p}: not a deployment record: {err}") from err

    def check_chain(self, chain_id: int) -> None:
        if chain_id != self.chain_id:
            raise ConfigError(f"the task was deployed on chain {self.chain_id} ({self.network}); "
                              f"connected to chain {chain_id}: wrong --network")


def atomic_write(path: Path, text: str) -> None:
    """Writes ``text`` so that a crash leaves either the old file or the new one, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def resolve_account(spec: str) -> Any:
    """``test:N`` -> the node's N-th test account (local chains); anything else -> the
    `ape accounts` alias, unlocked once (passphrase from $FEDCHAIN_PASSPHRASE or a prompt)
    and set to sign without asking, as a long-running process must."""
    from ape import accounts

    if spec.startswith("test:"):
        try:
            return list(accounts.test_accounts)[int(spec[5:])]
        except (ValueError, IndexError) as err:
            raise ConfigError(f"unknown test account {spec!r}: the node offers test:0 .. "
                              f"test:{len(list(accounts.test_accounts)) - 1}") from err
    if spec not in accounts.aliases:
        known = ", ".join(accounts.aliases) or "none"
        raise ConfigError(f"unknown account {spec!r}: use test:N or an alias from `ape accounts list` ({known})")
    account = accounts.load(spec)
    passphrase = os.environ.get("FEDCHAIN_PASSPHRASE")
    account.set_autosign(True, passphrase=passphrase)
    return account


def attach(record_path: Path | str, chain_id: int, account_spec: str | None = None) -> tuple[DeploymentRecord, Any]:
    """What every participant process does first: read the deployment record, refuse a
    wrong network, resolve the account (if one is needed). Raises ConfigError."""
    record = DeploymentRecord.load(record_path)
    record.check_chain(chain_id)
    return record, resolve_account(account_spec) if account_spec is not None else None
