"""fedchain's Python side: data, torch models and training, the fixed-point codec, a
bit-exact reference of the contract's arithmetic, and a typed SDK over the contract.

The one data path of a weight tensor:
torch -> ``codec.quantize`` -> ``codec.pack`` -> calldata -> contract lanes ->
``globalModel()`` view call -> ``codec.unpack`` -> ``codec.dequantize`` -> torch.
"""

__all__ = ["codec", "reference", "data", "models", "training", "chain", "federation"]
