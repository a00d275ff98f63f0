"""A local multi-process deployment: one anvil node on loopback and participants as
separate `ape run` processes. Used by `make demo-distributed` and the fault tests; nothing
here is shared between participants but the node's JSON-RPC endpoint."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

MNEMONIC = "test test test test test test test test test test test junk"
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{ROOT / 'tools' / 'bin'}:{ROOT / '.venv' / 'bin'}:{env.get('PATH', '')}"
    env.setdefault("SOLCX_BINARY_PATH", str(ROOT / "tools" / "bin"))
    env.setdefault("APE_DATA_FOLDER", str(ROOT / ".ape"))
    env["OMP_NUM_THREADS"] = "1"
    return env


@dataclass
class Anvil:
    """An anvil node mining a block every ``block_time`` s, its state dumped to ``state``
    on exit and loaded from it on restart."""

    folder: Path
    block_time: int = 2
    port: int = field(default_factory=free_port)
    accounts: int = 24
    proc: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def state(self) -> Path:
        return self.folder / "anvil-state.json"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        cmd = ["anvil", "--port", str(self.port), "--block-time", str(self.block_time), "--mnemonic", MNEMONIC,
               "--accounts", str(self.accounts), "--hardfork", "prague", "--dump-state", str(self.state)]
        if self.state.exists():
            cmd += ["--load-state", str(self.state)]
        log = open(self.folder / "anvil.log", "a")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=_env())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"anvil did not start on port {self.port}; see {self.folder / 'anvil.log'}")

    def stop(self) -> None:
        """SIGTERM: anvil writes its state dump, then exits."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        self.proc = None


@dataclass
class Proc:
    """One `ape run <script> ...` participant process with its own log file."""

    name: str
    args: list[str]
    log_path: Path
    proc: subprocess.Popen | None = None

    def start(self) -> "Proc":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen([str(ROOT / ".venv" / "bin" / "ape"), "run", *self.args], cwd=ROOT,
                                     stdout=log, stderr=subprocess.STDOUT, env=_env())
        return self

    def kill(self) -> None:
        """SIGKILL: a crash, no chance to clean up."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def stop(self, timeout: float = 60) -> int | None:
        """SIGTERM and wait for a clean exit; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


def ape_run(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    return ape_run_many([args], timeout)[0]


def ape_run_many(arg_lists: list[list[str]], timeout: float = 300) -> list[subprocess.CompletedProcess]:
    """Runs several `ape run` commands concurrently and waits for all."""
    procs = [subprocess.Popen([str(ROOT / ".venv" / "bin" / "ape"), "run", *args], cwd=ROOT, env=_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for args in arg_lists]
    done = []
    for args, p in zip(arg_lists, procs):
        out, err = p.communicate(timeout=timeout)
        done.append(subprocess.CompletedProcess(args, p.returncode, out, err))
    return done


def client_proc(folder: Path, uri: str, record: Path, index: int, n: int, account: int) -> Proc:
    return Proc(f"client{index}", ["client", "--record", str(record), "--account", f"test:{account}",
                                    "--shard", f"{index}/{n}", "--state-dir", str(folder / f"client{index}"),
                                    "--poll", "0.5", "--network", uri],
                folder / f"client{index}.log")


def keeper_proc(folder: Path, uri: str, record: Path, account: int, name: str = "keeper") -> Proc:
    return Proc(name, ["keeper", "--record", str(record), "--account", f"test:{account}", "--poll", "0.5",
                       "--network", uri], folder / f"{name}.log")


def wait_until(cond: Callable[[], Any], timeout: float, what: str, poll: float = 0.25) -> Any:
    """Polls ``cond`` until it returns something truthy; raises TimeoutError naming ``what``.
    Connection errors while a node restarts count as 'not yet'."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = cond()
        except (OSError, ConnectionError):
            value = None
        if value:
            return value
        time.sleep(poll)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
