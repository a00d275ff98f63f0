"""Signed updates for the relay path, without ape: what a participant hands to a relayer.

A participant signs the EIP-712 ``Update(round, head)`` of its quantized update (the head
link binds every word; the domain binds the chain and the task), and anyone may then carry
the words and the signature to the task in a column transaction
(``BatchEngine.relay``, vouched for by the rule's ``SignedRelay``). The relayer can leave an update out, nothing else: changed words
change the head, an old round's or another task's signature recovers another address.

This module needs only ``eth_account`` and numpy, so a process without ape (a Flower
SuperNode, whose dependencies cannot share an environment with ape) signs with the very
rules the tests hold the contract to (``ml.protocol.relay_digest``, ``update_links``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import protocol

#: secp256k1 group order: s above half of it is the malleable twin of a valid signature.
_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@dataclass(frozen=True)
class SignedUpdate:
    """An update as it travels to a relayer: its owner, round, packed words and the owner's
    EIP-2098 compact signature (r, yParityAndS) of ``relay_digest(chain, task, round, head)``."""

    signer: str
    round: int
    words: list[int]
    r: bytes
    vs: bytes
    saturated: int = 0

    @property
    def owner(self) -> str:
        return self.signer

    def proof(self) -> bytes:
        """What the relay carries for this update (``SignedRelay``): abi.encode(signer, r, vs)."""
        from eth_abi import encode

        return encode(["address", "bytes32", "bytes32"], [self.signer, self.r, self.vs])

    def as_json(self) -> dict[str, Any]:
        return {"signer": self.signer, "round": self.round, "words": [hex(w) for w in self.words],
                "r": self.r.hex(), "vs": self.vs.hex(), "saturated": self.saturated}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "SignedUpdate":
        return cls(str(d["signer"]), int(d["round"]), [int(w, 16) for w in d["words"]], bytes.fromhex(d["r"]),
                   bytes.fromhex(d["vs"]), int(d.get("saturated", 0)))


@dataclass(frozen=True)
class OpenedUpdate:
    """A seated CONSENSUS committer's update as it travels to a relayer: its owner, round,
    packed words, the opening of its commitment (salt, declared move) and the owner's
    EIP-2098 signature of ``relay_digest(chain, task, round, head)``: its consent (an opening
    alone is public once a first reveal post is sent, and must not let anyone end the
    owner's reveal). ``ConsensusRule.vouch`` checks both."""

    owner: str
    round: int
    words: list[int]
    salt: bytes
    move: int
    saturated: int = 0
    r: bytes = b"\0" * 32
    vs: bytes = b"\0" * 32

    def proof(self) -> bytes:
        """What the relay carries for this update: abi.encode(owner, r, vs, salt, move)."""
        from eth_abi import encode

        return encode(["address", "bytes32", "bytes32", "bytes32", "uint256"],
                      [self.owner, self.r, self.vs, self.salt, self.move])

    def as_json(self) -> dict[str, Any]:
        return {"owner": self.owner, "round": self.round, "words": [hex(w) for w in self.words],
                "salt": self.salt.hex(), "move": self.move, "saturated": self.saturated, "r": self.r.hex(),
                "vs": self.vs.hex()}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "OpenedUpdate":
        return cls(str(d["owner"]), int(d["round"]), [int(w, 16) for w in d["words"]], bytes.fromhex(d["salt"]),
                   int(d["move"]), int(d.get("saturated", 0)), bytes.fromhex(d.get("r", "00" * 32)),
                   bytes.fromhex(d.get("vs", "00" * 32)))


#: Anything a relayer carries: a signed update (PAPER) or an opened commitment (CONSENSUS).
Relayable = SignedUpdate | OpenedUpdate


def compact(v: int, r: int, s: int) -> tuple[bytes, bytes]:
    """EIP-2098: (r, yParityAndS) from a (v, r, s) signature, low-s normalised."""
    parity = (v - 27) if v >= 27 else v
    if s > _ORDER // 2:  # the twin (r, n - s) with the other parity signs the same digest
        s, parity = _ORDER - s, 1 - parity
    return r.to_bytes(32, "big"), ((parity << 255) | s).to_bytes(32, "big")


def sign_update(key: Any, chain_id: int, task: str, round_: int, words: list[int], column_words: int,
                saturated: int = 0) -> SignedUpdate:
    """Signs ``words`` for ``round_`` of ``task`` with ``key`` (a private key, or an
    eth_account ``LocalAccount``): the owner side of the relay path."""
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    account = key if hasattr(key, "sign_message") else Account.from_key(key)
    head = protocol.update_links(words, column_words)[0]
    signed = account.sign_message(encode_typed_data(full_message=protocol.relay_typed_data(
        chain_id, task, round_, head)))
    r, vs = compact(signed.v, signed.r, signed.s)
    return SignedUpdate(account.address, round_, list(words), r, vs, saturated)


def recover_signer(chain_id: int, task: str, update: SignedUpdate, column_words: int) -> str:
    """The address that signed ``update`` (what the contract recovers): a relayer checks a
    reply with it before spending gas on it."""
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    head = protocol.update_links(update.words, column_words)[0]
    message = encode_typed_data(full_message=protocol.relay_typed_data(chain_id, task, update.round, head))
    s = int.from_bytes(update.vs, "big")
    parity, s = s >> 255, s & ((1 << 255) - 1)
    return Account.recover_message(message, vrs=(27 + parity, int.from_bytes(update.r, "big"), s))
