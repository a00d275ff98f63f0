"""Flower on fedchain: the chain is the server, Flower carries the messages.

- ``fedchain_mod``: a client mod. An unchanged ``ClientApp`` trains as usual; the mod turns
  its training reply into the task's quantized update, made relayable with the SuperNode's
  own participant key (``node_config["fedchain-key-file"]``), so the Flower server can carry
  the update but not change it. The key never leaves the SuperNode. Under PAPER and the
  consortium rule the mod signs the update; under CONSENSUS it first commits to it from its
  own account (the stake is its own: nobody can commit for it) and replies with the opening
  and its signature, which the server relays once the seats are drawn.
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
from .signing import OpenedUpdate, Relayable, SignedUpdate, recover_signer, sign_update

log = logging.getLogger("fedchain.flower")

#: Keys of the train config the strategy adds and the mod reads.
TASK, CHAIN_ID, ROUND, COLUMN_WORDS, FRAC_BITS, VALUE_BITS = (
    "fedchain-task", "fedchain-chain-id", "fedchain-round", "fedchain-column-words", "fedchain-frac-bits",
    "fedchain-value-bits")
#: Further keys for rules whose participants act on chain themselves (CONSENSUS commits):
#: the rule's name, the node the strategy uses, the task's ABIs (JSON).
RULE, RPC_URL, ABIS = "fedchain-rule", "fedchain-rpc-url", "fedchain-abis"
#: Node config key: path of the file holding the SuperNode's participant key (hex).
KEY_FILE = "fedchain-key-file"
#: Node config key (optional): the chain node this SuperNode sends its own transactions to
#: (default: the strategy's, ``fedchain-rpc-url`` of the train config).
NODE_RPC = "fedchain-rpc-url"
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


def _signed_to_record(s: SignedUpdate) -> ConfigRecord:
    return ConfigRecord({"signer": s.signer, "round": s.round, "r": s.r, "vs": s.vs, "saturated": s.saturated,
                         "words": b"".join(int(w).to_bytes(32, "big") for w in s.words)})


def _signed_from_record(c: ConfigRecord) -> SignedUpdate:
    raw = bytes(c["words"])
    words = [int.from_bytes(raw[i : i + 32], "big") for i in range(0, len(raw), 32)]
    return SignedUpdate(str(c["signer"]), int(c["round"]), words, bytes(c["r"]), bytes(c["vs"]), int(c["saturated"]))


def _opened_to_record(o: OpenedUpdate) -> ConfigRecord:
    return ConfigRecord({"owner": o.owner, "round": o.round, "salt": o.salt, "move": str(o.move), "r": o.r,
                         "vs": o.vs, "saturated": o.saturated,
                         "words": b"".join(int(w).to_bytes(32, "big") for w in o.words)})


def _opened_from_record(c: ConfigRecord) -> OpenedUpdate:
    raw = bytes(c["words"])
    words = [int.from_bytes(raw[i : i + 32], "big") for i in range(0, len(raw), 32)]
    return OpenedUpdate(str(c["owner"]), int(c["round"]), words, bytes(c["salt"]), int(str(c["move"])),
                        int(c["saturated"]), bytes(c["r"]), bytes(c["vs"]))


def _relayable(msg: Message) -> Relayable | None:
    records = msg.content.config_records
    if SIGNED in records:
        return _signed_from_record(records[SIGNED])
    if OPENED in records:
        return _opened_from_record(records[OPENED])
    return None


def _commit_and_open(config: ConfigRecord, context: Context, key: str, words: list[int],
                     saturated: int) -> ConfigRecord:
    """CONSENSUS, on the SuperNode: commits to the update from the node's own account
    (paying its stake), then returns the opening a relayer needs, signed as consent."""
    from eth_account import Account

    rpc = str(context.node_config.get(NODE_RPC, config[RPC_URL]))
    task = TaskClient.over_web3(rpc, str(config[TASK]), json.loads(str(config[ABIS])))
    account = Account.from_key(key)
    round_ = int(config[ROUND])
    commitment = task.prepare(round_, Update(words, saturated))
    task.commit(account, commitment)
    log.info("round %s: %s committed (move %d)", round_, account.address, commitment.move)
    return _opened_to_record(task.opening(account, commitment))


def fedchain_mod(msg: Message, context: Context, call_next: Callable[[Message, Context], Message]) -> Message:
    """Client mod: makes the training reply of a fedchain round relayable with this
    SuperNode's key (signed; under CONSENSUS committed first, then opened and signed);
    passes every other message through untouched."""
    config = msg.content.config_records.get("config")
    if msg.metadata.message_type != MessageType.TRAIN or config is None or TASK not in config:
        return call_next(msg, context)
    reply = call_next(msg, context)
    if reply.has_error():
        return reply
    arrays = next(iter(reply.content.array_records.values()))
    fmt = codec.FixedPoint(int(config[FRAC_BITS]), int(config[VALUE_BITS]))
    words, saturated = codec.encode(_flat(arrays), fmt)
    key = Path(str(context.node_config[KEY_FILE])).read_text().strip()
    if str(config.get(RULE, "")) == "consensus":
        content = RecordDict({OPENED: _commit_and_open(config, context, key, words, saturated)})
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
        #: The chain node SuperNodes send their own transactions to (CONSENSUS commits).
        self.rpc_url = str(getattr(task.web3.provider, "endpoint_uri", ""))
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
        extra = {}
        if t.adapter.commits:  # the SuperNodes commit from their own accounts
            extra = {RPC_URL: self.rpc_url, ABIS: json.dumps(t.abis)}
        config = ConfigRecord({**dict(config), TASK: t.address, CHAIN_ID: t.chain_id, ROUND: t.current_round,
                               COLUMN_WORDS: t.column_words, FRAC_BITS: t.fmt.frac_bits,
                               VALUE_BITS: t.fmt.value_bits, RULE: t.rule, **extra})
        return super().configure_train(server_round, self.chain_arrays(), config, grid)

    def aggregate_train(self, server_round: int,
                        replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        signed: list[Relayable] = []
        for msg in replies:
            s = None if msg.has_error() else _relayable(msg)
            if s is None:
                log.warning("round %s: node %s sent no relayable update%s", server_round, msg.metadata.src_node_id,
                            f" ({msg.error.reason})" if msg.has_error() else "")
                continue
            # A reply the contract would refuse would revert the whole listing: drop it here.
            if recover_signer(self.task.chain_id, self.task.address, s, self.task.column_words) != s.owner:
                log.warning("round %s: node %s's signature does not match; left out", server_round,
                            msg.metadata.src_node_id)
                continue
            signed.append(s)
        if not signed:
            return None, None
        room = min(self.task.max_participants, self.task.max_relayed)
        if len(signed) > room:
            # More SuperNodes than the relay carries: the first replies go (a relayer's choice,
            # like any omission; the others may post themselves).
            log.warning("round %s: %d signed updates, %d seats of which the relay carries %d; relaying the "
                        "first %d", server_round, len(signed), self.task.max_participants,
                        self.task.max_relayed, room)
            signed = signed[:room]
        from eth_account import Account

        r = self.task.relay(Account.from_key(self.relayer_key), signed)
        out = {"round": r.round, "participants": r.participants, "relayed": len(signed), "gas": r.gas_used,
               "transactions": r.sent, "max_tx_gas": r.max_tx_gas, "blocks": r.blocks, "rewards": r.rewards}
        self.rounds.append(out)
        metrics = MetricRecord({"participants": out["participants"], "gas": out["gas"],
                                "transactions": out["transactions"], "blocks": len(out["blocks"]),
                                "rewards-wei": sum(out["rewards"].values())})
        return self.chain_arrays(), metrics
