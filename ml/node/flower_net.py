"""A local Flower federation on loopback (Flower's deployment runtime: no simulation
engine, no ray): one SuperLink, N SuperNodes each holding its own participant key, and
``flwr run`` of a Flower app. The Flower processes run in the Flower environment
(``.venv-flower``: flwr and eth-ape cannot share one), every port is a free one (several
federations may run on one machine), and only processes started here are stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .localnet import ROOT, free_port

FLOWER_BIN = ROOT / ".venv-flower" / "bin"


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["FLWR_HOME"] = str(home)
    env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = "1"
    env["PATH"] = f"{FLOWER_BIN}:{env.get('PATH', '')}"
    env.pop("VIRTUAL_ENV", None)
    return env


@dataclass
class FlowerNet:
    """SuperLink + SuperNodes under ``folder`` (logs, FLWR_HOME, state)."""

    folder: Path
    node_configs: list[dict[str, object]]
    #: flwr 1.42 serves the Fleet, Control and ServerApp APIs over one HTTP port.
    port: int = field(default_factory=free_port)
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return self.folder / "flwr-home"

    def _spawn(self, name: str, cmd: list[str]) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "a")
        p = subprocess.Popen(cmd, cwd=self.folder, stdout=log, stderr=subprocess.STDOUT, env=_env(self.home),
                             start_new_session=True)
        self.procs.append(p)
        return p

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "config.toml").write_text(
            '[superlink]\ndefault = "fedchain"\n\n[superlink.fedchain]\n'
            f'address = "127.0.0.1:{self.port}"\ninsecure = true\n')
        self._spawn("superlink", [str(FLOWER_BIN / "flower-superlink"), "--insecure",
                                  "--host", "127.0.0.1", "--port", str(self.port),
                                  # Dependencies are installed by `make setup`, pinned; never
                                  # fetched at run time (`uv sync` by default).
                                  "--disable-runtime-dependency-installation",
                                  "--database", str(self.folder / "superlink.db")])
        _wait_port(self.port, 60, self.folder / "superlink.log")
        for i, cfg in enumerate(self.node_configs):
            node_config = " ".join(f"{k}={_toml(v)}" for k, v in cfg.items())
            self._spawn(f"supernode{i}", [str(FLOWER_BIN / "flower-supernode"), "--insecure",
                                          "--superlink", f"127.0.0.1:{self.port}",
                                          "--host", "127.0.0.1", "--port", str(free_port()),
                                          "--node-config", node_config])

    def run(self, app: Path, run_config: dict[str, object], timeout: float = 1800) -> subprocess.CompletedProcess:
        """``flwr run app fedchain --stream`` with ``run_config`` overrides; waits for the run."""
        overrides = " ".join(f"{k}={_toml(v)}" for k, v in run_config.items())
        return subprocess.run([str(FLOWER_BIN / "flwr"), "run", str(app), "fedchain", "--stream",
                               "--run-config", overrides], cwd=self.folder, env=_env(self.home), text=True,
                              capture_output=True, timeout=timeout)

    def stop(self) -> None:
        """SIGTERM to every process (group) started here, SIGKILL after 20 s."""
        for p in reversed(self.procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.procs.clear()


def _toml(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return f"'{v}'"


def _wait_port(port: int, timeout: float, log: Path) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"no Flower process listening on port {port}; see {log}")
