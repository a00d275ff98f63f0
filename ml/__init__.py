"""fedchain's library: everything a participant, a keeper or a study needs to take part in
a task, and nothing about any particular study (those live in the top-level ``studies``
package, which imports this one, never the reverse).

- ``codec``: float tensors <-> fixed-point integers <-> packed 256-bit words.
- ``protocol``: every contract rule in Python, bit-exact (aggregation, distances, tiers,
  links and commitments, seat draw, copy check, revenue shares).
- ``settings``: ``BatchSettings`` and ``ConsensusSettings`` (the contracts' structs), the
  protocol's constants, ``Status``.
- ``chain``: the SDK, the only code that builds contract calls (``BatchTask``, ``Call``).
- ``data``, ``models``, ``training``: datasets and partitions, torch models, local training
  and the float FedAvg baseline.
- ``node``: long-running client and keeper, config files and deployment records, a local
  multi-process network.

The one data path of a weight tensor:
torch -> ``codec.quantize`` -> ``codec.pack`` -> calldata -> contract lanes ->
``globalModelSlice()`` view call -> ``codec.unpack`` -> ``codec.dequantize`` -> torch.
"""

__all__ = ["codec", "protocol", "settings", "chain", "data", "models", "training", "node"]
