"""One harness for the processes tests and benchmarks start (servers, workers, the fake
upstream, Redis, peers): each on loopback, its output in a log file, and every one stopped, by
pid, when its group ends. ``free_port`` is the one way both find a port.

tests/support/procs.py adds what the tests start (web nodes, workers, the fake upstream);
bench/common.py adds the command lines RESULTS.md quotes.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

REPO = Path(__file__).resolve().parents[2]


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (another process may still take it before we bind:
    callers that start a server retry on "address already in use")."""
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Proc:
    name: str
    argv: list[str]
    env: dict[str, str]  # set over the group's environment (shown in command_line)
    popen: subprocess.Popen[bytes]
    log_path: Path
    port: int | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self) -> str:
        """Everything it has written so far (stdout and stderr)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def kill(self, sig: int = signal.SIGKILL, timeout_s: float = 10.0) -> None:
        if self.alive():
            self.popen.send_signal(sig)
            self.popen.wait(timeout=timeout_s)

    def command_line(self) -> str:
        """As a person would type it: ``python`` for this interpreter, the variables set."""
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        argv = [("python" if a == sys.executable else a) for a in self.argv]
        return (env + " " if env else "") + shlex.join(argv)


class ProcessGroup:
    """Starts processes and stops every one of them (SIGTERM, then SIGKILL) when it ends."""

    def __init__(
        self,
        directory: Path,
        env: Mapping[str, str] | None = None,
        *,
        new_session: bool = False,
    ) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        # The environment every process gets (callers may add to it between starts).
        self.env = dict(os.environ if env is None else env)
        # A session of their own: a Ctrl-C meant for the benchmark does not hit them first.
        self.new_session = new_session
        self.started: list[Proc] = []

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()

    def start(
        self,
        name: str,
        argv: list[str],
        env: Mapping[str, str] | None = None,
        *,
        port: int | None = None,
        cwd: Path = REPO,
    ) -> Proc:
        log_path = self.directory / f"{name}.log"
        with open(log_path, "wb") as out:
            popen = subprocess.Popen(
                argv,
                cwd=cwd,
                env={**self.env, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=self.new_session,
            )
        proc = Proc(name, list(argv), dict(env or {}), popen, log_path, port)
        self.started.append(proc)
        return proc

    def stop(self, proc: Proc, timeout_s: float = 8.0) -> None:
        if proc.alive():
            proc.popen.send_signal(signal.SIGTERM)
            try:
                proc.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()
        if proc in self.started:
            self.started.remove(proc)

    def stop_all(self, timeout_s: float = 10.0) -> None:
        """SIGTERM to all (the last started first), then a shared deadline, then SIGKILL."""
        procs = list(reversed(self.started))
        for proc in procs:
            if proc.alive():
                proc.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for proc in procs:
            try:
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()
        self.started.clear()
