"""Processes the soak test starts and stops: uvicorn app instances, a throwaway PostgreSQL
cluster, the CLI. Everything listens on 127.0.0.1 only and is stopped by its own pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
SECRET = "soak-secret-key-0123456789-abcdefghijklmnopqrstuv"
READY_TIMEOUT = 60.0


def free_port(preferred: int | None = None) -> int:
    """``preferred`` if nothing listens there, else any free loopback port."""
    if preferred is not None:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", preferred))
                return preferred
            except OSError:
                pass
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def as_user(user: str | None, argv: list[str]) -> list[str]:
    """``argv`` run as ``user`` (root only; the environment is kept)."""
    if user is None or os.geteuid() != 0:
        return argv
    return ["runuser", "-u", user, "--", *argv]


def confined(argv: list[str]) -> list[str]:
    """``argv`` subject to file permissions even when run by root.

    Root ignores ``chmod`` through CAP_DAC_OVERRIDE; without it (and its siblings) a
    read-only file is read-only for the app too. The interpreter lives under root's home, so
    switching to an unprivileged user would not even start it.
    """
    if os.geteuid() != 0:
        return argv
    drop = "-dac_override,-dac_read_search,-fowner"
    return ["setpriv", f"--bounding-set={drop}", "--inh-caps=-all", *argv]


@dataclass
class AppProcess:
    """One uvicorn process of :mod:`benchmarks._soak_app`."""

    name: str
    db_url: str
    workdir: Path
    confine: bool = False
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.workdir / f"{self.name}.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            SESSION_DB_URL=self.db_url,
            SESSION_SECRET_KEY=SECRET,
            SESSION_DATA_DIR=str(self.workdir / f"{self.name}-data"),
            SESSION_CLEANUP_INTERVAL_SECONDS="0",
            PYTHONPATH=str(ROOT),
        )
        return env

    def start(self) -> None:
        self.port = self.port or free_port()  # a restarted instance keeps its address
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "benchmarks._soak_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            confined(argv) if self.confine else argv,
            cwd=ROOT,
            env=self.env(),
            stdout=log,
            stderr=log,
        )
        log.close()

    async def wait_ready(self) -> None:
        """Poll ``/health`` until it answers (bounded), or fail with the process log."""
        deadline = time.monotonic() + READY_TIMEOUT
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    break
                try:
                    if (await client.get(self.base_url + "/health")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start; log:\n{self.log_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


async def start_all(apps: list[AppProcess]) -> list[str]:
    """Start every app process, wait until each answers; returns their base URLs."""
    for app in apps:
        app.start()
    for app in apps:
        await app.wait_ready()
    return [app.base_url for app in apps]


@dataclass
class ThrowawayPostgres:
    """A private PostgreSQL cluster under /tmp, on a loopback port, run as ``postgres``."""

    workdir: Path
    port: int = 0
    datadir: Path = field(init=False)

    def __post_init__(self) -> None:
        self.datadir = self.workdir / "pgdata"

    def url(self, password: str | None = None) -> str:
        auth = "postgres" if password is None else f"postgres:{password}"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/postgres"

    def _pg(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        argv = as_user("postgres", [str(PG_BIN / args[0]), *args[1:]])
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=True)

    def init(self) -> None:
        self.port = free_port(54329)
        self.datadir.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres")
            shutil.chown(self.datadir, "postgres")
        self._pg("initdb", "-D", str(self.datadir), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c max_connections=200"
        )
        log = str(self.datadir / "server.log")
        self._pg("pg_ctl", "-D", str(self.datadir), "-o", options, "-l", log, "-w", "start")

    def stop(self, mode: str = "immediate") -> None:
        self._pg("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # not running
            self.stop("fast")
        shutil.rmtree(self.datadir, ignore_errors=True)


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def one_clean_line(self) -> bool:
        """Exit 1 with exactly one line on stderr and no traceback, as ``docs/operations.md``
        ("The command line") promises."""
        lines = self.stderr.strip().splitlines()
        return self.returncode == 1 and len(lines) == 1 and "Traceback" not in self.stderr


def run_cli(db_url: str, *args: str, confine: bool = False, timeout: float = 60) -> CliResult:
    exe = str(Path(sys.executable).with_name("session-service"))
    env = dict(os.environ)
    env.pop("SESSION_SECRET_KEY", None)
    argv = [exe, "--db-url", db_url, *args]
    done = subprocess.run(
        confined(argv) if confine else argv,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd="/tmp",
    )
    return CliResult(done.returncode, done.stdout, done.stderr)
