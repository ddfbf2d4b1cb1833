"""The fault phases of the soak test: the database goes away under load and comes back.

Requests are classified by the phase they *started* in, so a request already in flight when
the fault begins is not blamed on it. Between phases the load keeps running; only the clock
(bounded) and the fault itself change.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sqlite3
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from session_service import SessionStoreBackend

from ._soak_load import Stats, User, make_client
from ._soak_procs import AppProcess, CliResult, ThrowawayPostgres, run_cli, start_all

Check = Callable[[str, bool, str], None]

IDLE_WRITES = 3
#: No load loop outlives this, whatever happens to the phases.
MAX_LOOP_SECONDS = 600.0
RECOVERY_TIMEOUT = 60.0
BACKOFF_SECONDS = 0.05


class PhasedLoad:
    """Users incrementing their counters in a loop; statuses counted per starting phase."""

    def __init__(self, users: list[User]) -> None:
        self.users = users
        self.phase = "before"
        self.counts: dict[str, Counter[str]] = defaultdict(Counter)
        self._stop = False
        self._tasks: list[asyncio.Task[None]] = []

    def set_phase(self, name: str) -> None:
        self.phase = name

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._loop(u)) for u in self.users]

    async def stop(self) -> None:
        self._stop = True
        await asyncio.gather(*self._tasks)

    async def _loop(self, user: User) -> None:
        deadline = time.monotonic() + MAX_LOOP_SECONDS
        while not self._stop and time.monotonic() < deadline:
            phase = self.phase
            response = await user.request("POST", "/incr")
            status = "transport-error" if response is None else str(response.status_code)
            # A request that began in one phase and ended in the next belongs to neither.
            self.counts[phase if phase == self.phase else f"{phase}->{self.phase}"][status] += 1
            if response is not None and response.status_code == 200:
                user.acked += 1
            else:
                await asyncio.sleep(BACKOFF_SECONDS)  # a client backing off, not a sync point

    def statuses(self) -> dict[str, dict[str, int]]:
        return {phase: dict(counter) for phase, counter in self.counts.items()}


async def _recover(load: PhasedLoad, probe: User, name: str) -> float:
    """Seconds until ``probe`` reads its session again on every instance (bounded)."""
    load.set_phase(f"recovering-{name}")
    started = time.monotonic()
    deadline = started + RECOVERY_TIMEOUT
    good = 0
    while time.monotonic() < deadline and good < len(probe.servers):
        good = good + 1 if await probe.counter() is not None else 0
        if good < len(probe.servers):
            await asyncio.sleep(0.1)
    return round(time.monotonic() - started, 2) if good else float("inf")


async def _setup_users(
    servers: list[str], client: Any, count: int, prefix: str, stats: Stats
) -> tuple[list[User], list[User]]:
    """``count`` idle users with a stored counter of IDLE_WRITES, and ``count`` active ones."""
    idle = [User(f"{prefix}idle{i}", servers, client, stats) for i in range(count)]
    active = [User(f"{prefix}active{i}", servers, client, stats) for i in range(count)]

    async def prepare(user: User, writes: int) -> None:
        assert await user.login(), f"{user.name} could not log in before the fault"
        for _ in range(writes):
            assert await user.incr(), f"{user.name} could not write before the fault"

    await asyncio.gather(*(prepare(u, IDLE_WRITES) for u in idle))
    await asyncio.gather(*(prepare(u, 0) for u in active))
    return idle, active


async def _start_load(
    servers: list[str], client: Any, count: int, prefix: str, stats: Stats
) -> tuple[list[User], list[User], PhasedLoad]:
    """Set up the users, start the active ones' load and let it run 2 s before the fault."""
    idle, active = await _setup_users(servers, client, count, prefix, stats)
    load = PhasedLoad(active)
    load.start()
    await asyncio.sleep(2.0)
    return idle, active, load


async def _verify_sessions(idle: list[User], active: list[User]) -> dict[str, int]:
    idle_ok = sum(await asyncio.gather(*(_counter_is(u, IDLE_WRITES) for u in idle)))
    stored = await asyncio.gather(*(u.counter() for u in active))
    active_ok = sum(
        1 for u, n in zip(active, stored, strict=True) if n is not None and n >= u.acked
    )
    return {
        "idle_sessions": len(idle),
        "idle_sessions_intact": idle_ok,
        "active_sessions": len(active),
        "active_sessions_with_every_acknowledged_write": active_ok,
    }


async def _counter_is(user: User, expected: int) -> bool:
    return await user.counter() == expected


def _cli_ok(result: CliResult, *, may_succeed: bool) -> bool:
    return result.one_clean_line or (may_succeed and result.returncode == 0)


def _cli_doc(result: CliResult) -> dict[str, Any]:
    return {"exit": result.returncode, "stderr": result.stderr.strip(), "stdout": result.stdout}


_ASYNCPG_FLOOR = "Failed to restore the pool connection floor"


def _tracebacks(logs: str) -> dict[str, int]:
    """Tracebacks in the server logs; asyncpg's own pool-maintenance retries counted apart."""
    pool = logs.count(_ASYNCPG_FLOOR)
    return {
        "tracebacks_in_server_logs": logs.count("Traceback") - pool,
        "asyncpg_pool_retry_tracebacks": pool,
    }


def _no_500(statuses: dict[str, dict[str, int]]) -> bool:
    """No 5xx but 503, and no dropped connection (except while an instance restarts)."""
    statuses = {k: v for k, v in statuses.items() if "instance-restart" not in k}
    return not any(
        s.startswith("5") and s != "503" for c in statuses.values() for s in c
    ) and not any("transport-error" in c for c in statuses.values())


async def run_pg_fault(workdir: Path, args: argparse.Namespace, check: Check) -> dict[str, Any]:
    password = f"soak-pw-{secrets.token_hex(8)}"
    pg = ThrowawayPostgres(workdir / "pg-fault")
    apps: list[AppProcess] = []
    try:
        await asyncio.to_thread(pg.init)
        await asyncio.to_thread(pg.start)
        url = pg.url(password)  # trust auth ignores it; it must still never be printed
        backend = SessionStoreBackend.from_url(url)
        await backend.migrate()
        await backend.close()
        apps = [AppProcess(f"pg-fault-{i}", url, workdir) for i in (1, 2)]
        servers = await start_all(apps)
        async with make_client() as client:
            stats = Stats()
            idle, active, load = await _start_load(servers, client, args.fault_users, "pg", stats)
            load.set_phase("stopping")
            await asyncio.to_thread(pg.stop, "immediate")
            load.set_phase("outage")
            outage_started = time.monotonic()
            cli = await asyncio.to_thread(run_cli, url, "count-user", "x")
            await asyncio.sleep(max(0.0, args.outage - (time.monotonic() - outage_started)))
            load.set_phase("restarting")
            await asyncio.to_thread(pg.start)
            recovery = await _recover(load, idle[0], "pg")
            load.set_phase("after")
            await asyncio.sleep(2.0)
            await load.stop()
            sessions = await _verify_sessions(idle, active)
    finally:
        for app in apps:
            app.stop()
        await asyncio.to_thread(pg.destroy)
    logs = "".join(a.log_text() for a in apps)
    statuses = load.statuses()
    figures = {
        "statuses_by_phase": statuses,
        "transport_errors": dict(stats.errors),
        "cli_during_outage": _cli_doc(cli),
        "recovery_seconds": recovery,
        **sessions,
        **_tracebacks(logs),
    }
    print(f"  {figures}", flush=True)
    outage = statuses.get("outage", {})
    check(
        "fault-pg: requests begun during the outage got only 503",
        set(outage) == {"503"},
        str(outage),
    )
    check("fault-pg: no 500 and no dropped connection in any phase", _no_500(statuses), "")
    check(
        "fault-pg: CLI during the outage: exit 1, one line", cli.one_clean_line, cli.stderr.strip()
    )
    check("fault-pg: apps recovered without restart", recovery != float("inf"), f"{recovery}s")
    after = statuses.get("after", {})
    check("fault-pg: after recovery every request succeeds", set(after) == {"200"}, str(after))
    check(
        "fault-pg: every session stored before the outage loads after",
        sessions["idle_sessions_intact"] == sessions["idle_sessions"]
        and sessions["active_sessions_with_every_acknowledged_write"]
        == sessions["active_sessions"],
        str(sessions),
    )
    leaked = password in logs or password in cli.stdout + cli.stderr
    check("fault-pg: the database password appears in no log or CLI output", not leaked, "")
    check("fault-pg: no tracebacks in server logs", figures["tracebacks_in_server_logs"] == 0, "")
    return figures


def _set_mode(directory: Path, file_mode: int, dir_mode: int) -> None:
    for path in directory.iterdir():
        path.chmod(file_mode)
    directory.chmod(dir_mode)


async def run_sqlite_fault(workdir: Path, args: argparse.Namespace, check: Check) -> dict[str, Any]:
    directory = workdir / "sqlite-fault"
    gone = workdir / "sqlite-fault.gone"
    directory.mkdir()
    database = directory / "sessions.sqlite"
    url = f"sqlite+aiosqlite:///{database}"
    backend = SessionStoreBackend.from_url(url)
    await backend.migrate()
    await backend.close()
    apps = [AppProcess(f"sqlite-fault-{i}", url, workdir, confine=True) for i in (1, 2)]
    cli: dict[str, CliResult] = {}
    recovery: dict[str, float] = {}
    try:
        servers = await start_all(apps)
        async with make_client() as client:
            stats = Stats()
            idle, active, load = await _start_load(servers, client, args.fault_users, "lite", stats)

            load.set_phase("read-only")
            _set_mode(directory, 0o444, 0o555)
            started = time.monotonic()
            # An instance (re)started meanwhile opens the file read-only: its writes must fail
            # cleanly, and it must recover once the file is writable again, without restart.
            load.set_phase("read-only-instance-restart")
            apps[1].stop()
            apps[1].start()
            await apps[1].wait_ready()
            load.set_phase("read-only")
            cli["read-only: count-user"] = await asyncio.to_thread(
                run_cli, url, "count-user", "x", confine=True
            )
            cli["read-only: clear-user"] = await asyncio.to_thread(
                run_cli, url, "clear-user", "x", confine=True
            )
            await asyncio.sleep(max(0.0, args.outage - (time.monotonic() - started)))
            _set_mode(directory, 0o644, 0o755)
            recovery["read-only"] = await _recover(load, idle[0], "read-only")
            load.set_phase("after-read-only")
            await asyncio.sleep(2.0)

            load.set_phase("vanished")
            os.rename(directory, gone)
            started = time.monotonic()
            cli["vanished: count-user"] = await asyncio.to_thread(
                run_cli, url, "count-user", "x", confine=True
            )
            await asyncio.sleep(max(0.0, args.outage - (time.monotonic() - started)))
            os.rename(gone, directory)
            recovery["vanished"] = await _recover(load, idle[0], "vanished")
            load.set_phase("after")
            await asyncio.sleep(2.0)
            await load.stop()
            sessions = await _verify_sessions(idle, active)
    finally:
        for app in apps:
            app.stop()
        if gone.exists() and not directory.exists():
            os.rename(gone, directory)
        _set_mode(directory, 0o644, 0o755)
    with sqlite3.connect(database) as conn:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    conn.close()
    logs = "".join(a.log_text() for a in apps)
    statuses = load.statuses()
    figures = {
        "statuses_by_phase": statuses,
        "transport_errors": dict(stats.errors),
        "cli": {k: _cli_doc(v) for k, v in cli.items()},
        "recovery_seconds": recovery,
        "integrity_check": integrity,
        **sessions,
        "database_is_locked": logs.count("database is locked"),
        **_tracebacks(logs),
    }
    print(f"  {figures}", flush=True)
    check("fault-sqlite: no 500 and no dropped connection in any phase", _no_500(statuses), "")
    for name, result in cli.items():
        may_succeed = "count-user" in name and "read-only" in name
        check(
            f"fault-sqlite: CLI {name}: exit 0 or exit 1 with one line",
            _cli_ok(result, may_succeed=may_succeed),
            result.stderr.strip(),
        )
    check("fault-sqlite: PRAGMA integrity_check is ok afterwards", integrity == "ok", integrity)
    for name, seconds in recovery.items():
        check(
            f"fault-sqlite: apps recovered after {name} without restart",
            seconds != float("inf"),
            f"{seconds}s",
        )
    after = statuses.get("after", {})
    check("fault-sqlite: after recovery every request succeeds", set(after) == {"200"}, str(after))
    check(
        "fault-sqlite: every stored session loads after",
        sessions["idle_sessions_intact"] == sessions["idle_sessions"]
        and sessions["active_sessions_with_every_acknowledged_write"]
        == sessions["active_sessions"],
        str(sessions),
    )
    check(
        "fault-sqlite: no tracebacks in server logs", figures["tracebacks_in_server_logs"] == 0, ""
    )
    return figures
