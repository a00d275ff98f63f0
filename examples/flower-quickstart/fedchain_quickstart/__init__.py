"""fedchain_quickstart: Flower's PyTorch quickstart with a smart contract as the server."""
