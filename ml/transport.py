"""How the task client reaches a chain: reads through web3.py, writes through a transport.

The task client (``ml.chain.TaskClient``) builds every contract call as a value
(``Call``: which contract of the task, method, arguments, wei, gas limit) and reads every
view, event and past transaction through web3.py, which both worlds share. Only sending
differs, so only sending is a transport:

- ``ApeTransport``: ape accounts (test accounts, keyfiles, hardware wallets) sign, and ape
  sends; reverts raise ape's ``ContractLogicError`` (``ape.reverts`` in tests). Scripts,
  tests and node processes use it.
- ``Web3Transport``: eth-account keys sign and web3.py sends; for processes that cannot
  import ape (the Flower ServerApp: flwr and eth-ape pin incompatible ``rich`` and
  ``packaging``).

Both return the same ``Receipt``, with the task's events decoded by one decoder
(``EventDecoder``) from the contracts' ABIs.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Sequence

#: Where ape writes the project's compiled contracts (ABIs for processes without ape).
MANIFEST = Path(__file__).resolve().parent.parent / ".build" / "__local__.json"


class TaskError(RuntimeError):
    """A task transaction reverted or could not be sent; the message names the cause."""


@dataclass(frozen=True)
class Call:
    """One contract call as a value: ``target`` is "engine" or "rule" (the task's two
    contracts), ``method`` the function's name."""

    target: str
    method: str
    args: tuple
    value: int = 0
    gas: int | None = None  # None: the node estimates


@dataclass(frozen=True)
class Event:
    """A decoded log of the task's contracts."""

    name: str
    args: dict[str, Any]
    address: str
    tx_hash: str
    block_number: int

    def __getattr__(self, key: str) -> Any:
        try:
            return self.args[key]
        except KeyError as err:
            raise AttributeError(key) from err


@dataclass(frozen=True)
class Receipt:
    """What a mined transaction did, the same over every transport."""

    tx_hash: str
    gas_used: int
    block_number: int
    data_bytes: int  # calldata size
    events: list[Event] = field(default_factory=list)

    def named(self, name: str) -> list[Event]:
        return [e for e in self.events if e.name == name]


def abi_of(contract: str, manifest: Path | str = MANIFEST) -> list[dict]:
    """A contract's ABI from ape's compiled manifest."""
    data = json.loads(Path(manifest).read_text())
    try:
        return data["contractTypes"][contract]["abi"]
    except KeyError as err:
        raise TaskError(f"{contract} is not in {manifest}: run `ape compile` first") from err


class EventDecoder:
    """Decodes the logs of the given contracts (address -> ABI) by their topics."""

    def __init__(self, web3: Any, abis: dict[str, list[dict]]) -> None:
        from eth_utils import event_abi_to_log_topic

        self.web3 = web3
        self._events: dict[tuple[str, bytes], dict] = {}
        for address, abi in abis.items():
            for entry in abi:
                if entry.get("type") == "event":
                    self._events[(address.lower(), bytes(event_abi_to_log_topic(entry)))] = entry

    def decode(self, log: Any) -> Event | None:
        from web3._utils.events import get_event_data

        topics = log["topics"]
        if not topics:
            return None
        address = str(log["address"]).lower()
        abi = self._events.get((address, bytes(topics[0])))
        if abi is None:
            return None
        data = get_event_data(self.web3.codec, abi, _as_web3_log(log))
        tx = log["transactionHash"]
        return Event(abi["name"], dict(data["args"]), str(log["address"]),
                     "0x" + bytes(tx).hex() if isinstance(tx, (bytes, bytearray)) else str(tx),
                     int(log["blockNumber"]))


def _as_web3_log(log: Any) -> dict:
    """A log in the shape web3's decoder wants (ape hands plain dicts with hex strings)."""
    from hexbytes import HexBytes

    out = dict(log)
    out["topics"] = [HexBytes(t) for t in log["topics"]]
    out["data"] = HexBytes(log["data"])
    return out


class Transport(Protocol):
    """What the task client needs from a chain connection besides reads."""

    web3: Any

    def send(self, call: Call, contract: Any, sender: Any) -> Any: ...

    def broadcast(self, items: Sequence[tuple[Call, Any, Any]], timeout: float = 600.0) -> list[Any]: ...

    def address_of(self, sender: Any) -> str: ...

    def key_of(self, sender: Any) -> Any: ...

    def dev_chain(self) -> bool: ...

    def advance_time(self, seconds: int) -> None: ...


def automine(web3: Any) -> bool:
    """Whether the node is an anvil that mines a block per transaction (a dev chain)."""
    try:
        return bool(web3.provider.make_request("anvil_getAutomine", [])["result"])
    except Exception:  # noqa: BLE001 - any other node mines on its own schedule
        return False


def interval_mining(web3: Any) -> bool:
    """Whether the node is an anvil that mines on an interval rather than per transaction."""
    try:
        return not bool(web3.provider.make_request("anvil_getAutomine", [])["result"])
    except Exception:  # noqa: BLE001 - not an anvil: nothing to work around
        return False


def await_block(web3: Any, number: int, poll: float = 0.25) -> None:
    """Returns once the next block to be mined is ``number`` (or later): a seed armed for a
    block is taken by a call in that block. An automining anvil mines empty blocks to get
    there; any other node is waited for."""
    mine = automine(web3)
    while web3.eth.block_number + 1 < number:
        if mine:
            web3.provider.make_request("evm_mine", [])
        else:
            time.sleep(poll)


def await_receipt(web3: Any, raw: bytes, tx_hash: str, deadline: float) -> Any:
    """The receipt of a sent transaction; one that is neither mined nor known to the node
    (anvil drops some of several large ones from one sender) is sent again, byte for byte."""
    from web3.exceptions import TransactionNotFound

    while True:
        try:
            return web3.eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"transaction {tx_hash} not mined in time")
        try:
            web3.eth.get_transaction(tx_hash)
        except TransactionNotFound:
            web3.eth.send_raw_transaction(raw)  # dropped from the pool: send it again
        time.sleep(0.1)


def revert_reason(web3: Any, tx_hash: str, abis: Sequence[list[dict]]) -> str:
    """Why a mined transaction reverted: the custom error its replay raises, by name (or the
    gas it ran out of), for a message a person can act on."""
    from eth_utils import keccak

    tx = web3.eth.get_transaction(tx_hash)
    receipt = web3.eth.get_transaction_receipt(tx_hash)
    if int(receipt["gasUsed"]) >= int(tx["gas"]):
        return f"out of gas (limit {int(tx['gas']):,})"
    try:
        replay = {"from": tx["from"], "to": tx["to"], "data": tx["input"], "value": tx["value"], "gas": tx["gas"]}
        if tx.get("blobVersionedHashes"):  # a blob transaction: BLOBHASH must see its blobs
            replay.update(type=3, blobVersionedHashes=tx["blobVersionedHashes"], maxFeePerBlobGas=tx["maxFeePerBlobGas"])
        web3.eth.call(replay, int(receipt["blockNumber"]) - 1)
    except Exception as err:  # noqa: BLE001 - any node error is the reason we report
        return error_name(str(err), abis)
    return "unknown (the replay did not revert)"


def error_name(text: str, abis: Sequence[list[dict]]) -> str:
    """A node's revert message with the custom error it carries named (from ``abis``)."""
    from eth_utils import keccak

    for abi in abis:
        for e in abi:
            if e.get("type") != "error":
                continue
            sig = f"{e['name']}({','.join(i['type'] for i in e['inputs'])})"
            if keccak(text=sig)[:4].hex() in text:
                return f"{e['name']} ({text.splitlines()[0][:200]})"
    return text.splitlines()[0][:300]


def build_blob_transaction(web3: Any, contract: Any, call: Call, key: Any, blobs: Sequence[bytes],
                           abis: Sequence[list[dict]], nonce: int | None = None,
                           blob_fee: int | None = None) -> tuple[bytes, str]:
    """Signs ``call`` to the web3 contract ``contract`` as an EIP-4844 transaction carrying
    ``blobs`` with the private key ``key``: its network form and hash. The sidecar
    (commitments and proofs) is built with ckzg and a trusted setup loaded once
    (``ml.blobs``), not per blob as eth-account's own blob signing does (~3 s each). Without
    ``call.gas`` the node estimates it against the pending block, and a call that would
    revert raises ``TaskError`` naming the contract's error before anything is signed."""
    import rlp
    from eth_account import Account

    from .blobs import sidecar

    hashes, commitments, proofs = sidecar(blobs)
    sender = Account.from_key(key)
    data = getattr(contract.functions, call.method)(*call.args)._encode_transaction_data()
    blob_fee = blob_fee if blob_fee is not None else 2 * int(web3.eth.blob_base_fee) + 1
    probe = {"from": sender.address, "to": contract.address, "data": data, "value": call.value, "type": 3,
             "maxFeePerBlobGas": blob_fee, "blobVersionedHashes": hashes}
    try:
        # against the pending block: a dev chain's next timestamp may already be set ahead
        gas = call.gas if call.gas is not None else int(web3.eth.estimate_gas(probe, "pending") * 1.2) + 10_000
    except Exception as err:  # noqa: BLE001 - the node's estimate failed: the call reverts
        raise TaskError(f"{call.method} would revert: {error_name(str(err), abis)}") from err
    fee = 2 * int(web3.eth.gas_price) + 1
    tx = {"to": contract.address, "data": data, "value": call.value, "type": 3, "chainId": int(web3.eth.chain_id),
          "nonce": nonce if nonce is not None else web3.eth.get_transaction_count(sender.address, "pending"),
          "gas": gas, "maxFeePerGas": fee, "maxPriorityFeePerGas": min(fee, 10**9), "maxFeePerBlobGas": blob_fee,
          "blobVersionedHashes": hashes}
    raw = bytes(sender.sign_transaction(tx).raw_transaction)
    # the network form: 0x03 || rlp([signed transaction fields, blobs, commitments, proofs])
    wrapped = b"\x03" + rlp.encode([rlp.decode(raw[1:]), [bytes(b) for b in blobs], commitments, proofs])
    from eth_utils import keccak

    return wrapped, "0x" + keccak(raw).hex()


def send_blob_transaction(web3: Any, contract: Any, call: Call, key: Any, blobs: Sequence[bytes],
                          abis: Sequence[list[dict]], timeout: float = 600.0) -> Any:
    """Builds (``build_blob_transaction``), sends and waits for one blob transaction."""
    return broadcast_blob_transactions(web3, [(contract, call, key, blobs)], abis, timeout)[0]


def broadcast_blob_transactions(web3: Any, items: Sequence[tuple[Any, Call, Any, Sequence[bytes]]],
                                abis: Sequence[list[dict]], timeout: float = 600.0,
                                blob_fee: int | None = None) -> list[Any]:
    """Signs and sends every ``(contract, call, key, blobs)`` without waiting for any,
    numbering each key's transactions in order, then waits for all (a phase then takes as
    many blocks as the node's blobs per block force). Calls after a key's first need an
    explicit gas limit: the node cannot estimate them before the earlier ones are mined."""
    from eth_account import Account

    nonces: dict[str, int] = {}
    sent = []
    for contract, call, key, blobs in items:
        address = Account.from_key(key).address
        nonce = nonces.get(address, web3.eth.get_transaction_count(address, "pending"))
        nonces[address] = nonce + 1
        wrapped, tx_hash = build_blob_transaction(web3, contract, call, key, blobs, abis, nonce, blob_fee)
        web3.eth.send_raw_transaction(wrapped)
        sent.append((call, wrapped, tx_hash))
    deadline = time.monotonic() + timeout
    receipts = []
    for call, wrapped, tx_hash in sent:
        receipt = await_receipt(web3, wrapped, tx_hash, deadline)
        if int(receipt["status"]) != 1:
            raise TaskError(f"{call.method} transaction {tx_hash} reverted: {revert_reason(web3, tx_hash, abis)}")
        receipts.append(receipt)
    return receipts


class ApeTransport:
    """Sends through ape: its accounts sign (any kind ape supports), and a revert raises
    ape's ``ContractLogicError`` with the contract's custom error."""

    def __init__(self, provider: Any) -> None:
        self.provider = provider
        self.web3 = provider.web3

    def address_of(self, sender: Any) -> str:
        return str(sender.address)

    def key_of(self, sender: Any) -> Any:
        """The private key a blob transaction is signed with: ape 0.8.51 builds no blob
        sidecar, so blob transactions are signed here, from accounts that expose their key
        (test accounts; a keyfile account once unlocked and exported)."""
        key = getattr(sender, "private_key", None)
        if key is None:
            raise TaskError(f"account {sender.address} exposes no private key: blob transactions need one "
                            "(ape 0.8.51 cannot sign blobs; use a test account or an eth-account key)")
        return key

    def dev_chain(self) -> bool:
        return automine(self.web3) or interval_mining(self.web3)

    def advance_time(self, seconds: int) -> None:
        """The next block's timestamp moves ``seconds`` ahead (ape's clock, which its
        snapshots restore)."""
        from ape import chain

        chain.pending_timestamp += seconds

    def send(self, call: Call, contract: Any, sender: Any) -> Any:
        if interval_mining(self.web3):
            # ape's own send re-imports a transaction on an anvil switched to interval
            # mining ("transaction already imported"); send it raw there.
            return self.broadcast([(call, contract, sender)])[0]
        kw: dict[str, Any] = {"sender": sender, "value": call.value}
        if call.gas is not None:
            kw["gas_limit"] = call.gas
        receipt = getattr(contract, call.method)(*call.args, **kw)
        return self.web3.eth.get_transaction_receipt(receipt.txn_hash)

    def broadcast(self, items: Sequence[tuple[Call, Any, Any]], timeout: float = 600.0) -> list[Any]:
        """Signs and sends every ``(call, contract, sender)`` without waiting for any,
        numbering each sender's transactions in order, then waits for all; raises
        ``TaskError`` naming the first that reverted."""
        nonces: dict[str, int] = {}
        raws, hashes = [], []
        for call, contract, sender in items:
            key = str(sender.address)
            nonce = nonces.get(key, int(sender.nonce))
            nonces[key] = nonce + 1
            raw = getattr(contract, call.method).as_transaction_bytes(
                *call.args, sender=sender, value=call.value, gas_limit=call.gas, nonce=nonce)
            raws.append(raw)
            h = self.web3.eth.send_raw_transaction(raw)
            hashes.append("0x" + bytes(h).hex() if isinstance(h, (bytes, bytearray)) else str(h))
        return _await_all(self.web3, items, raws, hashes, timeout)


class Web3Transport:
    """Sends through bare web3.py with eth-account keys (``LocalAccount`` senders)."""

    def __init__(self, web3: Any) -> None:
        self.web3 = web3
        self.chain_id = int(web3.eth.chain_id)

    def address_of(self, sender: Any) -> str:
        return str(sender.address)

    def key_of(self, sender: Any) -> Any:
        return sender.key

    def dev_chain(self) -> bool:
        return automine(self.web3) or interval_mining(self.web3)

    def advance_time(self, seconds: int) -> None:
        """Development chains only: the next block's timestamp moves ``seconds`` ahead."""
        self.web3.provider.make_request("evm_increaseTime", [int(seconds)])

    def send(self, call: Call, contract: Any, sender: Any) -> Any:
        return self.broadcast([(call, contract, sender)])[0]

    def broadcast(self, items: Sequence[tuple[Call, Any, Any]], timeout: float = 600.0) -> list[Any]:
        nonces: dict[str, int] = {}
        raws, hashes = [], []
        fee = int(self.web3.eth.gas_price) * 2
        for call, contract, sender in items:
            key = str(sender.address)
            nonce = nonces.get(key, self.web3.eth.get_transaction_count(sender.address, "pending"))
            nonces[key] = nonce + 1
            params = {"from": sender.address, "nonce": nonce, "value": call.value, "maxFeePerGas": fee,
                      "maxPriorityFeePerGas": 0, "chainId": self.chain_id}
            if call.gas is not None:
                params["gas"] = call.gas
            fn = getattr(contract.functions, call.method)(*call.args)
            try:
                tx = fn.build_transaction(params)
            except Exception as err:  # noqa: BLE001 - the node's estimate failed: the call reverts
                raise TaskError(f"{call.method} would revert: {err}") from err
            raw = sender.sign_transaction(tx).raw_transaction
            raws.append(raw)
            h = self.web3.eth.send_raw_transaction(raw)
            hashes.append("0x" + bytes(h).hex() if isinstance(h, (bytes, bytearray)) else str(h))
        return _await_all(self.web3, items, raws, hashes, timeout)


def _await_all(web3: Any, items: Sequence[tuple[Call, Any, Any]], raws: list[bytes], hashes: list[str],
               timeout: float) -> list[Any]:
    deadline = time.monotonic() + timeout
    receipts = []
    for (call, contract, _), raw, h in zip(items, raws, hashes):
        receipt = await_receipt(web3, raw, h, deadline)
        if int(receipt["status"]) != 1:
            raise TaskError(f"{call.method} transaction {h} reverted: "
                            f"{revert_reason(web3, h, [_abi_list(contract)])}")
        receipts.append(receipt)
    return receipts


def _abi_list(contract: Any) -> list[dict]:
    """The ABI of an ape or web3 contract object, as JSON dicts."""
    if hasattr(contract, "abi"):  # web3
        return list(contract.abi)
    return [a.model_dump(mode="json", by_alias=True) for a in contract.contract_type.abi]
