"""Adversary study: the same population of honest and dishonest clients under the PAPER
and CONSENSUS reward rules, on chain, with per-behaviour rewards and stake losses.

Behaviours (what a rational cheater can do without training):
- honest: trains on its shard.
- free_rider: resubmits the current global model.
- noisy_free_rider: global + Gaussian noise sized like an honest update (mimics training).
- copier: PAPER: copies an honest client's submission of the same round (public in the
  mempool). CONSENSUS: round 1, re-sends an honest client's commitment (it cannot open it);
  later rounds, reveals an honest client's update from the previous round (public calldata).
- poisoner: global - 10 x an honest update (a scaled, sign-flipped update).
- no_show: PAPER: submits nothing. CONSENSUS: commits and never reveals.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ml.chain import Commitment, FedTask
from ml.data import Dataset
from ml.models import build_model, set_flat
from ml.settings import TaskSettings
from ml.training import TrainConfig, accuracy, client_seed, initial_weights, train_local

BEHAVIOURS = ("honest", "free_rider", "noisy_free_rider", "copier", "poisoner", "no_show")


@dataclass
class ClientRound:
    round: int
    client: int
    behaviour: str
    reward_wei: int = 0
    stake_lost_wei: int = 0
    accepted: bool | None = None
    distance: int | None = None


@dataclass
class StudyRun:
    rule: str
    split: str
    population: list[str]
    accuracy: list[float] = field(default_factory=list)
    rows: list[ClientRound] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "split": self.split, "population": self.population,
                "accuracy": self.accuracy, "rows": [asdict(r) for r in self.rows]}


def study_settings(rule: str, n_params: int, clients: int) -> TaskSettings:
    """Reward settings of the study. PAPER thresholds are fixed-point units of distance to
    the current global; CONSENSUS thresholds are per-mille of the round's mean move."""
    if rule == "paper":
        return TaskSettings(param_count=n_params, max_participants=clients, min_participants=2,
                            tier_thresholds=(16, 32, 64, 128), tier_rewards=(4 * 10**15, 3 * 10**15, 2 * 10**15, 10**15))
    return TaskSettings(param_count=n_params, max_participants=clients, min_participants=2,
                        tier_thresholds=CONSENSUS_THRESHOLDS, tier_rewards=CONSENSUS_REWARDS,
                        reward_rule="consensus", reveal_duration=600, stake=10**16, min_move=3, max_move=400,
                        max_move_ratio=2000, duplicate_distance=1)


#: CONSENSUS tiers over FederatedTask.claimScore (per-mille of the round's mean move; an
#: update the consensus did not move towards scores ~1000 or more).
CONSENSUS_THRESHOLDS = (400, 550, 700, 850, 970, 1100, 1300, 1600)
CONSENSUS_REWARDS = tuple(k * 10**15 for k in (8, 7, 6, 5, 4, 3, 2, 1))


def run_population(
    container: Any,
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
    on_round: Callable[[int], None] | None = None,
) -> StudyRun:
    model = build_model(model_name, data.n_features, data.n_classes, seed)
    n_params = sum(p.numel() for p in model.parameters())
    settings = study_settings(rule, n_params, len(population))
    task = FedTask.launch(container, owner, settings, initial_weights(model_name, data, seed, settings.fmt),
                          funding=settings.round_reserve * (rounds + 1))
    rng = np.random.default_rng(seed)
    run = StudyRun(rule, split, list(population))
    honest_ids = [i for i, b in enumerate(population) if b == "honest"]
    prev_honest: dict[int, np.ndarray] = {}
    pending_claims: list[tuple[int, Commitment, ClientRound]] = []

    for r in range(1, rounds + 1):
        rid = task.current_round
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
            elif b == "no_show":
                updates[i] = None if rule == "paper" else global_ + honest_delta  # commits, never reveals
        rows = {i: ClientRound(rid, i, b) for i, b in enumerate(population)}

        if rule == "paper":
            for i, u in updates.items():
                if u is None:
                    continue
                sub = task.submit(accounts[i], rid, u)
                rows[i].reward_wei, rows[i].distance, rows[i].accepted = sub.reward, sub.distance, True
            _finalize(task, owner, advance_time)
        else:
            commits: dict[int, Commitment] = {}
            for i, b in enumerate(population):
                if b == "copier" and updates[i] is None:
                    # round 1: nothing public to copy yet but the honest commitment itself
                    victim = commits.get(honest_ids[0]) or task.prepare(rid, ref)
                    task.commit(accounts[i], victim, bound_to=accounts[honest_ids[0]])
                    rows[i].stake_lost_wei = task.stake  # it can never open that commitment
                    continue
                commits[i] = task.prepare(rid, updates[i])
                task.commit(accounts[i], commits[i])
            advance_time(settings.round_duration)  # commit phase over (the copier did not fill it)
            for i, c in commits.items():
                if population[i] == "no_show":
                    rows[i].stake_lost_wei = task.stake
                    continue
                rev = task.reveal(accounts[i], c)
                rows[i].accepted = rev.accepted
                if rev.accepted:
                    pending_claims.append((i, c, rows[i]))
                elif not rev.stake_returned:
                    rows[i].stake_lost_wei = task.stake
            _finalize(task, owner, advance_time)
            for i, c, row in pending_claims:
                cl = task.claim(accounts[i], c)
                row.reward_wei, row.distance = cl.reward, cl.distance
            pending_claims.clear()
        prev_honest = honest
        set_flat(model, task.global_model())
        run.accuracy.append(accuracy(model, data.x_test, data.y_test))
        run.rows.extend(rows.values())
        if on_round:
            on_round(r)
    return run


def _finalize(task: FedTask, owner: Any, advance_time: Callable[[int], None]) -> None:
    """Finalizes now if the round may close (every expected participant acted), else once
    its deadline has passed."""
    state = task.round_state()
    if not state.can_close:
        advance_time(state.round_deadline - state.now)
    task.finalize(owner)


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
