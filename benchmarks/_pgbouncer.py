"""A throwaway PgBouncer in ``pool_mode = transaction`` in front of a PostgreSQL server.

Used by the pooler benchmark rows and the pooler tests (tests/stores/test_pooler.py). Debian's
package (1.18, ``apt-get install pgbouncer``) has no prepared-statement support, which is the
case the library must survive. PgBouncer refuses to run as root, so as root it runs as ``postgres``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.engine import make_url

INSTALL_HINT = (
    "Debian package `pgbouncer`: `make install-dev` installs it, or `apt-get install pgbouncer`"
)


class PgBouncerMissing(RuntimeError):
    """No ``pgbouncer`` binary on this machine."""


def binary() -> str | None:
    candidates = ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer")
    return shutil.which("pgbouncer") or next((p for p in candidates if os.path.exists(p)), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until PgBouncer accepts connections (it gives no other sign of readiness)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"pgbouncer exited with {proc.returncode}: {tail}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("pgbouncer did not start listening within 20 s")


@contextlib.contextmanager
def pgbouncer(server_url: str) -> Iterator[tuple[str, int]]:
    """Run PgBouncer for ``server_url``'s server; yields its (host, port). Any database name
    on that server is reachable through it, as the URL's user (``auth_type = trust``)."""
    exe = binary()
    if exe is None:
        raise PgBouncerMissing(f"PgBouncer is not installed ({INSTALL_HINT})")
    server = make_url(server_url)
    user, password = server.username or "postgres", server.password or ""
    port = _free_port()
    workdir = Path(tempfile.mkdtemp(prefix="session-service-pgbouncer-"))
    log = workdir / "pgbouncer.log"
    (workdir / "userlist.txt").write_text(f'"{user}" "{password}"\n')
    (workdir / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={server.host or '127.0.0.1'} port={server.port or 5432}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {workdir / 'userlist.txt'}\n"
        "pool_mode = transaction\nmax_client_conn = 500\ndefault_pool_size = 10\n"
        # Idle server connections in turn, not the last one used: consecutive transactions of
        # one client land on different server connections, as they do under real traffic.
        "server_round_robin = 1\n"
        f"logfile = {log}\npidfile = {workdir / 'pgbouncer.pid'}\n"
    )
    command = [exe, str(workdir / "pgbouncer.ini")]
    if os.geteuid() == 0:
        for path in (workdir, *workdir.iterdir()):
            shutil.chown(path, "postgres")
        command = ["runuser", "-u", "postgres", "--", *command]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(port, proc, log)
        yield "127.0.0.1", port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def through(url: str, where: tuple[str, int]) -> str:
    """``url`` with its host and port replaced by the pooler's."""
    return make_url(url).set(host=where[0], port=where[1]).render_as_string(False)
