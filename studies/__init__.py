"""Studies built on the ``ml`` library: they drive tasks, measure and report, and are not
needed to take part in a task. Nothing in ``ml`` imports from here.

- ``federation``: a whole federation driven from one process next to float FedAvg
  (``ape run train_round``, the experiments, the end-to-end test); ``report`` prints it.
- ``experiments`` and ``results_page``: the paper's figures 6-9 and docs/RESULTS.md.
- ``adversaries``: the reward-gaming study (honest vs cheating clients, both rules).
- ``bench``: gas per parameter and blocks per round.
- ``gasprofile``: a round's gas by Solidity function (``ape run gasprofile``).
- ``research/``: one-off scripts whose outputs the docs cite (docs/results/research/).
"""

__all__ = ["federation", "report", "experiments", "results_page", "adversaries", "bench", "gasprofile"]
