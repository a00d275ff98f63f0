"""Flower on fedchain: the chain is the server, Flower carries the messages.

- ``fedchain_mod``: a client mod. An unchanged ``ClientApp`` trains as usual; the mod turns
  its training reply into the task's quantized update, made relayable with the SuperNode's
  own participant key (``node_config["fedchain-key-file"]``), so the Flower server can carry
  the update but not change it. The key never leaves the SuperNode. Under PAPER and the
  consortium rule the mod signs the update; under CONSENSUS it first commits to it from its
  own account (the stake is its own: nobody can commit for it) and replies with the opening
  and its signature, which the server relays once the seats are drawn. What the node risks
  is set by its own node config, never by the server: the task it joined and the chain
  node it trusts (``fedchain-task-file``, ``fedchain-rpc-url``; a request for another task
  or chain is refused), the most it stakes, and under CONSENSUS the model it trains from
  must be the chain's and its move within the rule's bounds before it commits.
- ``FedChain``: a strategy for the ``ServerApp``. It reads the global model from the chain
  to configure each round, relays the replies to the task (``ml.chain.TaskClient`` over bare
  web3.py: the rule's phase (a CONSENSUS seat draw), a relay listing, then the column
  transactions) and hands back the model the chain aggregated: the server never decides
  the model. The aggregation rule is the task's; ``chain_rule`` maps Flower's
  FedAvg / FedMedian / FedTrimmedAvg onto MEAN / MEDIAN / TRIMMED_MEAN and the strategy
  refuses a task deployed with another rule. Every reward rule is served.

Needs ``flwr`` (the Flower environment, ``make setup``), not ape.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MessageType, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg, FedMedian, FedTrimmedAvg, Strategy

from . import codec
from .chain import TaskClient, Update
from .signing import OpenedUpdate, Relayable, SignedUpdate, sign_update

log = logging.getLogger("fedchain.flower")

#: Keys of the train config the strategy adds and the mod reads.
TASK, CHAIN_ID, ROUND, COLUMN_WORDS, FRAC_BITS, VALUE_BITS = (
    "fedchain-task", "fedchain-chain-id", "fedchain-round", "fedchain-column-words", "fedchain-frac-bits",
    "fedchain-value-bits")
#: The rule's name, as the server reads it (a SuperNode that joined a task reads its own).
RULE = "fedchain-rule"
#: Node config key: path of the file holding the SuperNode's participant key (hex).
KEY_FILE = "fedchain-key-file"
#: Node config keys: what the SuperNode itself trusts, never the server. The task it joined
#: (a JSON file: ``address`` and ``abis`` = ``ml.chain.task_abis()``, as flower_demo writes it), the chain
#: node it sends its own transactions through, and the most wei it stakes on a commit.
#: CONSENSUS needs the first two (the node commits from its own account); under any rule a
#: SuperNode with a task file refuses to sign for another task.
TASK_FILE, NODE_RPC, MAX_STAKE = "fedchain-task-file", "fedchain-rpc-url", "fedchain-max-stake-wei"
#: What a SuperNode stakes at most unless its node config says otherwise (0.1 ETH).
DEFAULT_MAX_STAKE = 10**17
#: Reply records: a signed update (PAPER, consortium), or an opened commitment (CONSENSUS).
SIGNED, OPENED = "fedchain-signed", "fedchain-opened"


def chain_rule(strategy: Strategy, seats: int) -> tuple[str, int]:
    """The task aggregation (and trim, with ``seats`` seats) that computes what ``strategy``
    would: FedAvg -> MEAN (unweighted: equal when partitions are equal), FedMedian ->
    MEDIAN, FedTrimmedAvg(beta) -> TRIMMED_MEAN dropping floor(beta x seats) per end."""
    if isinstance(strategy, FedTrimmedAvg):
        return "trimmed_mean", int(strategy.beta * seats)
    if isinstance(strategy, FedMedian):
        return "median", 0
    if type(strategy) is FedAvg:
        return "mean", 0
    raise ValueError(f"{type(strategy).__name__} has no on-chain rule (FedAvg, FedMedian, FedTrimmedAvg have)")


def _flat(arrays: ArrayRecord) -> np.ndarray:
    return np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays.to_numpy_ndarrays()])


def _words_bytes(words: list[int]) -> bytes:
    return b"".join(int(w).to_bytes(32, "big") for w in words)


def _bytes_words(raw: bytes) -> list[int]:
    return [int.from_bytes(raw[i : i + 32], "big") for i in range(0, len(raw), 32)]


def _signed_to_record(s: SignedUpdate) -> ConfigRecord:
    return ConfigRecord({"signer": s.signer, "round": s.round, "r": s.r, "vs": s.vs, "saturated": s.saturated,
                         "words": _words_bytes(s.words)})


def _signed_from_record(c: ConfigRecord) -> SignedUpdate:
    return SignedUpdate(str(c["signer"]), int(c["round"]), _bytes_words(bytes(c["words"])), bytes(c["r"]),
                        bytes(c["vs"]), int(c["saturated"]))


def _opened_to_record(o: OpenedUpdate) -> ConfigRecord:
    return ConfigRecord({"owner": o.owner, "round": o.round, "salt": o.salt, "move": str(o.move), "r": o.r,
                         "vs": o.vs, "saturated": o.saturated, "words": _words_bytes(o.words)})


def _opened_from_record(c: ConfigRecord) -> OpenedUpdate:
    return OpenedUpdate(str(c["owner"]), int(c["round"]), _bytes_words(bytes(c["words"])), bytes(c["salt"]),
                        int(str(c["move"])), int(c["saturated"]), bytes(c["r"]), bytes(c["vs"]))


def _relayable(msg: Message) -> Relayable | None:
    records = msg.content.config_records
    if SIGNED in records:
        return _signed_from_record(records[SIGNED])
    if OPENED in records:
        return _opened_from_record(records[OPENED])
    return None


def _own_task(context: Context) -> TaskClient | None:
    """The task this SuperNode joined, through its own chain node (node config), or None
    when the node config names no task file."""
    nc = context.node_config
    if TASK_FILE not in nc:
        return None
    if NODE_RPC not in nc:
        raise ValueError(f"node config {TASK_FILE} needs {NODE_RPC}: the chain node this SuperNode trusts")
    info = json.loads(Path(str(nc[TASK_FILE])).read_text())
    return TaskClient.over_web3(str(nc[NODE_RPC]), str(info["address"]), info.get("abis"))


def _check_request(task: TaskClient | None, config: ConfigRecord, msg: Message) -> None:
    """Refuses a train request for another task or chain than the one this SuperNode joined,
    or (CONSENSUS: the node stakes on its move) one whose model is not the chain's."""
    if task is None:
        return
    if str(config[TASK]).lower() != task.address.lower() or int(config[CHAIN_ID]) != task.chain_id:
        raise ValueError(f"the server asked for task {config[TASK]} on chain {config[CHAIN_ID]}; this SuperNode "
                         f"joined {task.address} on chain {task.chain_id}")
    if task.adapter.commits:
        sent = codec.unpack(codec.encode(_flat(next(iter(msg.content.array_records.values()))), task.fmt)[0],
                            task.param_count)
        if not np.array_equal(sent, task.global_ints()):
            raise ValueError(f"round {config[ROUND]}: the model the server sent is not the task's current model")


def _commit_and_open(task: TaskClient, context: Context, key: str, round_: int, words: list[int],
                     saturated: int) -> ConfigRecord:
    """CONSENSUS, on the SuperNode: takes back stakes of earlier commits never seated,
    checks what this commit risks (the stake against the node's cap, the move against the
    rule's absolute bounds), commits to the update from the node's own account, and returns
    the opening a relayer needs, signed as consent."""
    from eth_account import Account

    from .protocol import move_accepted

    account = Account.from_key(key)
    cap = int(context.node_config.get(MAX_STAKE, DEFAULT_MAX_STAKE))
    if task.stake() > cap:
        raise ValueError(f"the task's stake {task.stake()} wei is above this SuperNode's cap {cap} ({MAX_STAKE})")
    returned = task.release_stakes(account)
    if returned:
        log.info("%s took back %d wei of stakes never seated", account.address, returned)
    commitment = task.prepare(round_, Update(words, saturated))
    mean = commitment.move // task.param_count
    low, high = (int(task.view("rule", n)) for n in ("minMove", "maxMove"))
    if not move_accepted(mean, low, high):
        raise ValueError(f"round {round_}: a mean move of {mean} is outside the rule's [{low}, {high}]: a commit "
                         f"would forfeit its stake")
    task.commit(account, commitment)
    log.info("round %s: %s committed (move %d)", round_, account.address, commitment.move)
    return _opened_to_record(task.opening(account, commitment))


def fedchain_mod(msg: Message, context: Context, call_next: Callable[[Message, Context], Message]) -> Message:
    """Client mod: makes the training reply of a fedchain round relayable with this
    SuperNode's key (signed; under CONSENSUS committed first, then opened and signed);
    passes every other message through untouched. What the node risks is decided by its
    own node config (task, chain node, stake cap), never by the server's message."""
    config = msg.content.config_records.get("config")
    if msg.metadata.message_type != MessageType.TRAIN or config is None or TASK not in config:
        return call_next(msg, context)
    task = _own_task(context)
    _check_request(task, config, msg)
    commits = task.adapter.commits if task is not None else str(config.get(RULE, "")) == "consensus"
    if commits and task is None:
        raise ValueError(f"a CONSENSUS task: node config {TASK_FILE} and {NODE_RPC} are needed (the SuperNode "
                         f"commits and stakes from its own account)")
    reply = call_next(msg, context)
    if reply.has_error():
        return reply
    arrays = next(iter(reply.content.array_records.values()))
    fmt = codec.FixedPoint(int(config[FRAC_BITS]), int(config[VALUE_BITS]))
    words, saturated = codec.encode(_flat(arrays), fmt)
    key = Path(str(context.node_config[KEY_FILE])).read_text().strip()
    if commits:
        content = RecordDict({OPENED: _commit_and_open(task, context, key, int(config[ROUND]), words, saturated)})
    else:
        signed = sign_update(key, int(config[CHAIN_ID]), str(config[TASK]), int(config[ROUND]), words,
                             int(config[COLUMN_WORDS]), saturated)
        content = RecordDict({SIGNED: _signed_to_record(signed)})
    for name, metrics in reply.content.metric_records.items():
        content[name] = metrics
    return Message(content=content, reply_to=msg)


class FedChain(FedAvg):
    """The ServerApp strategy: the task on chain aggregates, this only relays.

    ``template``: the model's arrays (names and shapes; values are read from the chain).
    ``rule_of``: the Flower strategy whose rule the task must be deployed with (FedAvg by
    default). Clients are sampled as FedAvg does (``min_nodes`` of them, every round);
    evaluation is left to ``evaluate_fn`` of ``start`` on the chain's model."""

    def __init__(self, task: TaskClient, relayer_key: str, template: ArrayRecord, min_nodes: int,
                 rule_of: Strategy | None = None) -> None:
        super().__init__(fraction_train=1.0, fraction_evaluate=0.0, min_train_nodes=min_nodes,
                         min_available_nodes=min_nodes)
        rule, trim = chain_rule(rule_of or FedAvg(), task.max_participants)
        if rule != task.aggregation or (rule == "trimmed_mean" and trim != task.trim):
            raise ValueError(f"{type(rule_of or FedAvg()).__name__} needs a {rule} task"
                             f"{f' trimming {trim}' if rule == 'trimmed_mean' else ''}; {task.address} aggregates by "
                             f"{task.aggregation}{f' trimming {task.trim}' if task.aggregation == 'trimmed_mean' else ''}")
        self.task = task
        self.relayer_key = relayer_key
        self._names = list(template.keys())
        self._shapes = [a.shape for a in template.to_numpy_ndarrays()]
        self._dtypes = [a.dtype for a in template.to_numpy_ndarrays()]
        self.rounds: list[dict[str, Any]] = []  # what each relay did (gas, blocks, rewards)

    def chain_arrays(self) -> ArrayRecord:
        """The task's current global model, as the template's arrays (view calls only)."""
        flat = self.task.global_model()
        out, offset = {}, 0
        for name, shape, dtype in zip(self._names, self._shapes, self._dtypes):
            size = int(np.prod(shape))
            out[name] = Array(flat[offset : offset + size].reshape(shape).astype(dtype))
            offset += size
        return ArrayRecord(out)

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                        grid: Grid) -> Iterable[Message]:
        if not self.task.round_open:
            raise RuntimeError(f"task {self.task.address} has no open round (pool empty, or ended)")
        t = self.task
        config = ConfigRecord({**dict(config), TASK: t.address, CHAIN_ID: t.chain_id, ROUND: t.current_round,
                               COLUMN_WORDS: t.column_words, FRAC_BITS: t.fmt.frac_bits,
                               VALUE_BITS: t.fmt.value_bits, RULE: t.rule})
        return super().configure_train(server_round, self.chain_arrays(), config, grid)

    def aggregate_train(self, server_round: int,
                        replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        signed: list[Relayable] = []
        for msg in replies:
            try:
                s = None if msg.has_error() else _relayable(msg)
            except Exception as err:  # noqa: BLE001 - a malformed reply is one node's loss, not the round's
                log.warning("round %s: node %s sent a malformed reply: %s", server_round, msg.metadata.src_node_id, err)
                continue
            if s is None:
                log.warning("round %s: node %s sent no relayable update%s", server_round, msg.metadata.src_node_id,
                            f" ({msg.error.reason})" if msg.has_error() else "")
                continue
            signed.append(s)
        # What would revert the listing for everyone (another round, length, lanes, a
        # signature not the owner's, a second update of one owner; under CONSENSUS an opening
        # of another commitment or an unseated owner; a consortium's unlisted account) and
        # what the relay has no room for is left out by the task client (``well_formed``,
        # the rule's ``before_relay``, then the seats and ``maxRelayed``), after the filters
        # and, under CONSENSUS, after the draw. With nothing to relay the round still ends
        # (at its deadline, below quorum): a round left open would be re-sent by every later
        # Flower round.
        from eth_account import Account

        r = self.task.relay(Account.from_key(self.relayer_key), signed)
        out = {"round": r.round, "participants": r.participants, "relayed": len(signed), "gas": r.gas_used,
               "transactions": r.sent, "max_tx_gas": r.max_tx_gas, "blocks": r.blocks, "rewards": r.rewards}
        self.rounds.append(out)
        metrics = MetricRecord({"participants": out["participants"], "gas": out["gas"],
                                "transactions": out["transactions"], "blocks": len(out["blocks"]),
                                "rewards-wei": sum(out["rewards"].values())})
        return self.chain_arrays(), metrics
