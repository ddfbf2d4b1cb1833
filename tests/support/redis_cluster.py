"""A real Redis Cluster for the tests: 3 primaries and 3 replicas of Debian's ``redis-server``
on free ports, joined by ``redis-cli --cluster create … --cluster-replicas 1``, as the Sentinel
tests start their Sentinel. Throwaway: no persistence, its directory removed afterwards."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from redis.cluster import RedisCluster


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(taken: Collection[int] = ()) -> int:
    """A free port whose cluster bus port (10000 higher) is free too; both below 65536."""
    while True:
        port = random.randint(20000, 55000)
        fresh = port not in taken and port + 10000 not in taken
        if fresh and _bindable(port) and _bindable(port + 10000):
            return port


@dataclass
class Cluster:
    """The running nodes: ``ports`` (the first three the initial primaries)."""

    directory: Path
    ports: list[int]
    procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports[:3])

    def client(self) -> RedisCluster:
        return RedisCluster(host="127.0.0.1", port=self.ports[0], socket_timeout=5)

    def node(self, port: int) -> Any:
        """A plain client of one node (``Any``: its raw ``execute_command`` is untyped)."""
        return redis.Redis(port=port, socket_timeout=5, socket_connect_timeout=5)

    def start_node(self, port: int) -> None:
        log = self.directory / f"{port}.log"
        self.procs[port] = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(port),
             "--bind", "127.0.0.1", "--cluster-enabled", "yes",
             "--cluster-config-file", f"nodes-{port}.conf", "--cluster-node-timeout", "5000",
             "--save", "", "--appendonly", "no", "--dir", str(self.directory),
             "--logfile", str(log), "--maxmemory-policy", "noeviction"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(lambda: _answers(port), f"redis-server on {port} did not start ({log})")

    def primaries(self) -> list[int]:
        """The ports of the primaries serving slots now, as a node that answers says."""
        for port in self.ports:
            if _answers(port):
                slots = self.node(port).execute_command("CLUSTER SLOTS")
                return sorted({int(primary[1]) for _, _, primary, *_ in slots})
        raise RuntimeError("no node of the cluster answers")

    def wait_ok(self) -> None:
        def ok() -> bool:
            for port in self.procs:
                try:
                    info = self.node(port).cluster("info")
                except redis.RedisError:
                    return False
                if info.get("cluster_state") != "ok":
                    return False
            return True

        wait_until(ok, "the cluster did not reach cluster_state:ok", 60)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def _answers(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_timeout=1, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def wait_until(check: object, what: str, seconds: float = 30) -> None:
    """Poll ``check`` (a callable) until true; a RuntimeError naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise RuntimeError(what)


@contextmanager
def redis_cluster() -> Iterator[Cluster]:
    """Start the 6 nodes, join them, wait until every node says ``cluster_state:ok``."""
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="sstest-cluster-")), [])
    try:
        for _ in range(6):
            cluster.ports.append(free_port(cluster.ports))
        for port in cluster.ports:
            cluster.start_node(port)
        subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in cluster.ports),
             "--cluster-replicas", "1", "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        cluster.wait_ok()
        yield cluster
    finally:
        cluster.stop()


def external_cluster(url: str) -> Cluster:
    """A cluster someone else runs (``SESSION_TEST_REDIS_CLUSTER_URL``, such as the one of
    docker-compose-test-deps.yml): its seed ports; no process of it is ours to stop."""
    from session_service.settings import split_cluster_url

    seeds = split_cluster_url(url)
    return Cluster(Path(tempfile.mkdtemp(prefix="sstest-cluster-")), [p for _, p in seeds])


def cluster_keys_without_ttl_then_delete(cluster: Cluster, prefix: str) -> list[str]:
    """Every key under ``prefix`` on any primary without a TTL; then delete them all."""
    untimed: list[str] = []
    for port in cluster.primaries():
        node = cluster.node(port)
        keys = list(node.scan_iter(match=prefix.replace("[", "\\[") + "*", count=1000))
        untimed += [k.decode() for k in keys if node.pttl(k) == -1]
        for key in keys:
            node.delete(key)
    return untimed
