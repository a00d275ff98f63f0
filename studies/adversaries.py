"""Adversary study: the same population of honest and dishonest clients under the PAPER
and CONSENSUS reward rules and an aggregation rule, on chain, with per-behaviour rewards
and stake losses.

Behaviours (what a rational cheater can do without training):
- honest: trains on its shard.
- free_rider: resubmits the current global model.
- noisy_free_rider: global + Gaussian noise sized like an honest update (mimics training).
- copier: PAPER: copies an honest client's post of the same round (public in the mempool).
  CONSENSUS: round 1, re-sends an honest client's commitment (it cannot open it); later
  rounds, reveals an honest client's update from the previous round (public calldata): an
  exact replay.
- poisoner: global - 10 x an honest update (a scaled, sign-flipped update).
- adaptive_poisoner: global - s x an honest update, s as large as the CONSENSUS reveal bound
  lets through (maxMoveRatio x the lower median of the declared moves, and maxMove), its
  declared move in that median too: the strongest poison the bounds admit.
- no_show: PAPER: posts nothing. CONSENSUS: commits and never reveals.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ml import codec
from ml.chain import BatchTask
from ml.rules.consensus import Commitment
from ml.data import Dataset
from ml.models import build_model, set_flat
from ml.settings import BatchSettings, ConsensusSettings, Status
from ml.training import TrainConfig, accuracy, client_seed, initial_weights, train_local

BEHAVIOURS = ("honest", "free_rider", "noisy_free_rider", "copier", "poisoner", "adaptive_poisoner", "no_show")


@dataclass
class ClientRound:
    round: int
    client: int
    behaviour: str
    reward_wei: int = 0
    stake_lost_wei: int = 0
    accepted: bool | None = None
    distance: int | None = None  # the rule's score: PAPER distance to the old model, CONSENSUS per-mille


@dataclass
class StudyRun:
    rule: str
    split: str
    population: list[str]
    accuracy: list[float] = field(default_factory=list)
    rows: list[ClientRound] = field(default_factory=list)
    aggregation: str = "mean"

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "split": self.split, "aggregation": self.aggregation,
                "population": self.population, "accuracy": self.accuracy, "rows": [asdict(r) for r in self.rows]}


#: CONSENSUS tiers over ConsensusRule.claimScore (per-mille of the round's mean move; an
#: update the consensus did not move towards scores ~1000 or more).
CONSENSUS_THRESHOLDS = (400, 550, 700, 850, 970, 1100, 1300, 1600)
CONSENSUS_REWARDS = tuple(k * 10**15 for k in (8, 7, 6, 5, 4, 3, 2, 1))
STUDY_CONSENSUS = ConsensusSettings(commit_duration=600, stake=10**16, min_move=3, max_move=400, max_move_ratio=2000)


def study_settings(rule: str, n_params: int, clients: int, aggregation: str = "mean",
                   trim: int = 0) -> BatchSettings:
    """Reward settings of the study. PAPER thresholds are fixed-point units of distance to
    the current global; CONSENSUS thresholds are per-mille of the round's mean move, and
    same-round near-copies and replays of the last 3 rounds earn nothing."""
    if rule == "paper":
        return BatchSettings(param_count=n_params, max_participants=clients, min_participants=2, post_duration=600,
                             aggregation=aggregation, trim=trim, tier_thresholds=(16, 32, 64, 128),
                             tier_rewards=(4 * 10**15, 3 * 10**15, 2 * 10**15, 10**15))
    return BatchSettings(param_count=n_params, max_participants=clients, min_participants=2, post_duration=600,
                         aggregation=aggregation, trim=trim, tier_thresholds=CONSENSUS_THRESHOLDS,
                         tier_rewards=CONSENSUS_REWARDS, duplicate_distance=1, replay_rounds=3)


def adaptive_scale(honest_delta: np.ndarray, other_moves: Sequence[float], poisoners: int,
                   c: ConsensusSettings = STUDY_CONSENSUS) -> float:
    """The largest s for which global - s x ``honest_delta`` passes the reveal bounds: mean
    move under min(maxMove, maxMoveRatio x the lower median of the declared mean moves: the
    others' and the poisoners' own, above it), one unit of margin."""
    declared = sorted([int(m) for m in other_moves] + [c.max_move] * poisoners)
    bound = min(c.max_move, c.max_move_ratio / 1000 * declared[(len(declared) - 1) // 2]) if c.max_move_ratio \
        else c.max_move
    return max(bound - 1, 0) / max(float(np.abs(honest_delta).mean()), 1e-12)


def run_population(
    containers: dict[str, Any],
    owner: Any,
    accounts: Sequence[Any],
    population: Sequence[str],
    data: Dataset,
    parts: Sequence[np.ndarray],
    rule: str,
    rounds: int,
    train: TrainConfig,
    seed: int,
    advance_time: Callable[[int], None],
    split: str = "iid",
    model_name: str = "logreg",
    aggregation: str = "mean",
    trim: int = 0,
    on_round: Callable[[int], None] | None = None,
) -> StudyRun:
    """Runs ``rounds`` rounds of ``population`` (client i trains on ``parts[i]`` from
    ``accounts[i]``) on a fresh task; ``containers`` maps "paper"/"consensus" to the
    rules to deploy (names in ``ml.rules``, or their ape containers). Every reward and stake is read back from the chain:
    a client's credit over the round minus its reward is the stake it got back."""
    model = build_model(model_name, data.n_features, data.n_classes, seed)
    n_params = sum(p.numel() for p in model.parameters())
    settings = study_settings(rule, n_params, len(population), aggregation, trim)
    consensus = STUDY_CONSENSUS if rule == "consensus" else None
    task = BatchTask.launch(containers[rule], owner, settings, initial_weights(model_name, data, seed, settings.fmt),
                            funding=settings.round_reserve * (rounds + 1), extra=consensus)
    rng = np.random.default_rng(seed)
    run = StudyRun(rule, split, list(population), aggregation=aggregation)
    honest_ids = [i for i, b in enumerate(population) if b == "honest"]
    prev_honest: dict[int, np.ndarray] = {}
    adaptive = sum(1 for b in population if b == "adaptive_poisoner")

    for r in range(1, rounds + 1):
        rid = task.current_round
        g_ints = task.global_ints()
        global_ = task.global_model()
        honest: dict[int, np.ndarray] = {}
        for i in honest_ids:
            set_flat(model, global_)
            honest[i] = train_local(model, data.x_train[parts[i]], data.y_train[parts[i]], train, client_seed(seed, r, i))
        ref = honest[honest_ids[0]]
        honest_delta = ref - global_

        updates: dict[int, np.ndarray | None] = {}
        for i, b in enumerate(population):
            if b == "honest":
                updates[i] = honest[i]
            elif b == "free_rider":
                updates[i] = global_.copy()
            elif b == "noisy_free_rider":
                sigma = float(np.mean(np.abs(honest_delta))) * np.sqrt(np.pi / 2)
                updates[i] = global_ + rng.normal(0.0, sigma, global_.size)
            elif b == "copier":
                updates[i] = ref.copy() if rule == "paper" else prev_honest.get(honest_ids[0])
            elif b == "poisoner":
                updates[i] = global_ - 10.0 * honest_delta
            elif b == "adaptive_poisoner":
                updates[i] = None  # sized below, against every other declaration
            elif b == "no_show":
                updates[i] = None if rule == "paper" else global_ + honest_delta  # commits, never reveals
        if adaptive:
            # Declared moves are public (Committed events) and the poison is sized last, in
            # integer units as the contract measures them: the scaled update rounds to within
            # half a unit per parameter of the bound's one-unit margin.
            # Everyone else's declared update: a CONSENSUS round-1 copier declares its
            # victim's (it committed the victim's commitment); a PAPER no-show declares none.
            others = [ref if u is None else u for i, u in updates.items()
                      if population[i] != "adaptive_poisoner" and (u is not None or population[i] == "copier")]
            delta = _ints(task, ref) - g_ints
            s = adaptive_scale(delta, [np.abs(_ints(task, u) - g_ints).mean() for u in others], adaptive)
            poison = np.clip(g_ints - np.rint(s * delta), task.fmt.min_int, task.fmt.max_int) / task.fmt.scale
            for i, b in enumerate(population):
                if b == "adaptive_poisoner":
                    updates[i] = poison
        rows = {i: ClientRound(rid, i, b) for i, b in enumerate(population)}
        owed_before = {i: task.withdrawable(accounts[i]) for i in rows}

        if rule == "paper":
            for i, u in updates.items():
                if u is not None:
                    task.submit(accounts[i], rid, u)
        else:
            commits: dict[int, Commitment] = {}
            for i, b in enumerate(population):
                if b == "copier" and updates[i] is None:
                    # round 1: nothing public to copy yet but the honest commitment itself
                    victim = commits.get(honest_ids[0]) or task.prepare(rid, ref)
                    task.commit(accounts[i], victim, bound_to=accounts[honest_ids[0]])
                    continue
                commits[i] = task.prepare(rid, updates[i])
                task.commit(accounts[i], commits[i])
            task.draw_seats(owner, wait=advance_time)
            for i, c in commits.items():
                if population[i] != "no_show":
                    task.reveal(accounts[i], c)
        agg = task.aggregate(owner, wait=advance_time)
        for i, row in rows.items():
            who = str(accounts[i].address)
            row.accepted = task.status(rid, accounts[i])[0] == Status.LISTED if updates[i] is not None else None
            row.reward_wei = agg.rewards.get(who, 0)
            row.distance = agg.scores.get(who)
            if rule == "consensus":
                returned = task.withdrawable(accounts[i]) - owed_before[i] - row.reward_wei
                row.stake_lost_wei = task.stake() - returned
        prev_honest = honest
        set_flat(model, task.global_model())
        run.accuracy.append(accuracy(model, data.x_test, data.y_test))
        run.rows.extend(rows.values())
        if on_round:
            on_round(r)
    return run


def _ints(task: BatchTask, weights: np.ndarray) -> np.ndarray:
    return codec.quantize(weights, task.fmt).ints.astype(np.int64)


def summarize(run: StudyRun, seed: int | None = None) -> list[dict[str, Any]]:
    """One record per behaviour: mean reward per round (wei and share of the honest mean),
    stake lost, whether it earned strictly less than every honest client every round, and
    the worst round's ratio of its best reward to the lowest honest reward (< 1 ⇔ strictly
    less in every round)."""
    out = []
    rounds = sorted({r.round for r in run.rows})
    honest_mean = np.mean([r.reward_wei for r in run.rows if r.behaviour == "honest"]) or 1.0
    honest_min = {k: min(r.reward_wei for r in run.rows if r.round == k and r.behaviour == "honest") for k in rounds}
    for b in dict.fromkeys(run.population):
        mine = [r for r in run.rows if r.behaviour == b]
        best = {k: max(r.reward_wei for r in mine if r.round == k) for k in rounds}
        cheater = b != "honest"
        out.append({
            "rule": run.rule, "split": run.split, "seed": seed, "behaviour": b,
            "reward_wei_per_round": float(np.mean([r.reward_wei for r in mine])),
            "share_of_honest": float(np.mean([r.reward_wei for r in mine]) / honest_mean),
            "stake_lost_wei": int(sum(r.stake_lost_wei for r in mine)),
            "strictly_less_than_every_honest_every_round": all(best[k] < honest_min[k] for k in rounds)
            if cheater else None,
            "worst_round_ratio": max(_ratio(best[k], honest_min[k]) for k in rounds) if cheater else None,
            "final_accuracy": run.accuracy[-1],
        })
    return out


def _ratio(cheater: int, honest: int) -> float:
    """cheater / honest; 1.0 when both are 0 (not strictly less), a large sentinel (not inf,
    which JSON cannot carry) when only the honest client earned nothing."""
    if honest:
        return cheater / honest
    return 1.0 if cheater == 0 else 1e9


def across_seeds(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Folds per-seed `summarize` records into one row per rule x split x behaviour: in how
    many seeds the behaviour earned strictly less than every honest client in every round,
    its mean share of the honest reward, and its worst round ratio over all seeds."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for rec in records:
        groups.setdefault((rec["rule"], rec["split"], rec["behaviour"]), []).append(rec)
    out = []
    for (rule, split, behaviour), recs in groups.items():
        if behaviour == "honest":
            continue
        passed = [r["seed"] for r in recs if r["strictly_less_than_every_honest_every_round"]]
        out.append({
            "rule": rule, "split": split, "behaviour": behaviour,
            "seeds": [r["seed"] for r in recs], "seeds_strictly_less": passed,
            "share_of_honest": float(np.mean([r["share_of_honest"] for r in recs])),
            "worst_round_ratio": max(r["worst_round_ratio"] for r in recs),
            "stake_lost_wei": int(sum(r["stake_lost_wei"] for r in recs)),
        })
    return out


def plot_round_ratios(runs: Sequence[dict[str, Any]], path: Any, rule: str = "consensus") -> None:
    """One panel per split: each client's reward in each round divided by the lowest honest
    reward of that round, one dot per (seed, round, client), coloured by seed. Honest
    clients sit at ≥ 1 by construction; a cheater passes the study's criterion when all its
    dots are strictly below the line at 1. ``runs`` are ``StudyRun.as_dict()`` records with a
    ``seed`` key, as ``ape run adversaries --json`` writes them."""
    from pathlib import Path

    from .experiments import _plt

    plt = _plt()
    mine = [r for r in runs if r["rule"] == rule and "copier" in r["population"]]
    splits = list(dict.fromkeys(r["split"] for r in mine))
    order = list(BEHAVIOURS)
    seeds = sorted({r["seed"] for r in mine})
    colours = plt.get_cmap("tab10")
    fig, axes = plt.subplots(1, len(splits), figsize=(6.2 * len(splits), 3.8), sharey=True, squeeze=False)
    jitter = np.random.default_rng(0)
    for ax, split in zip(axes[0], splits):
        for run in (r for r in mine if r["split"] == split):
            rows = run["rows"]
            for k in sorted({r["round"] for r in rows}):
                rr = [r for r in rows if r["round"] == k]
                low = min(r["reward_wei"] for r in rr if r["behaviour"] == "honest")
                for r in rr:
                    y = min(_ratio(r["reward_wei"], low), 4.0)  # an unpaid lowest honest: top of the plot
                    x = order.index(r["behaviour"]) + jitter.uniform(-0.25, 0.25)
                    ax.plot(x, y, "o", ms=3.5, alpha=0.75, color=colours(seeds.index(run["seed"])))
        ax.axhline(1.0, color="black", lw=1, ls="--")
        ax.text(len(order) - 0.5, 1.03, "lowest honest client", ha="right", va="bottom", fontsize=8)
        ax.set_xticks(range(len(order)), [b.replace("_", "\n") for b in order], fontsize=8)
        ax.set_title("IID" if split == "iid" else "Dirichlet(0.5)")
        ax.grid(alpha=0.3, axis="y")
    axes[0][0].set_ylabel("reward / lowest honest reward, same round")
    handles = [plt.Line2D([], [], ls="", marker="o", color=colours(i), label=f"seed {s}") for i, s in enumerate(seeds)]
    axes[0][-1].legend(handles=handles, fontsize=7, loc="upper right")
    fig.suptitle(f"{rule.upper()} rule, MNIST logreg, 5 honest clients + 1 of each cheater, every round of every seed")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
