"""Node code: what runs as its own long-lived process against a chain.

- ``participant``: the client (trains, commits, reveals, claims; crash-safe state file) and
  the keeper (draws seats, closes rounds, reopens them), both one ``step()`` at a time.
- ``deployment``: task config files (``DeployConfig``), deployment records, accounts.
- ``localnet``: a local anvil and participant processes on loopback, for demos and tests.
"""

__all__ = ["participant", "deployment", "localnet"]
