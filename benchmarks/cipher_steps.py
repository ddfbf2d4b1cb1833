"""``python -m benchmarks.cipher_steps [-n N]``: instructions per value of each step of a cold
open and a seal (:mod:`session_service.stores._cipher`), the benchmark session's values
(``theme``, ``cart``, ``n``) each under another of ``N`` sessions, so nothing is remembered.

One process under ``valgrind --tool=callgrind`` (as :mod:`benchmarks.instructions`: counters
zeroed at ``getppid()``, dumped at ``getegid()``) runs each step alone over inputs the step
before made, and the same loop doing nothing, with the cyclic collector off; a step's figure
is its loop's count less the empty loop's, per value. ``open()`` and ``seal()`` are the
cipher's whole calls (per session: divide by three for a value), measured the same way, so
the steps' sum can be set beside them.
``--cpu``: CPU µs of a cold open and a seal instead (no valgrind; run it from each of two
trees in turn for an A/B). ``--inner`` is the part under valgrind.
"""

from __future__ import annotations

import argparse
import functools
import gc
import os
import re
import subprocess
import sys
import tempfile
from binascii import a2b_base64, b2a_base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

KEY = "bench:" + "QkVOQ0hCRU5DSEJFTkNIQkVOQ0hCRU5DSEJFTkNIQkU="  # benchmarks.apps' key
VALUES = {"theme": "dark", "cart": [1, 2, 3], "n": 0}


def _steps(n: int) -> list[tuple[str, int, Callable[[], None]]]:
    """(name, values per loop, the loop) for every step."""
    from session_service.records import SessionRecord, utcnow
    from session_service.settings.encryption import parse_encryption_keys
    from session_service.stores import _cipher
    from session_service.stores._codec import _decoder, _loads, encode_value

    keys = parse_encryption_keys("SESSION_ENCRYPTION_KEYS", KEY)
    assert keys is not None
    c = _cipher.DataCipher(keys)
    aead, prefix, label = c._current, c._prefix, c._label
    cut, nb = len(prefix), _cipher._NONCE_BYTES
    stored = [f"{i:064x}" for i in range(n)]
    data = {"user_id": "bench-user", **VALUES}
    sealed = [c.seal(s, data) for s in stored]
    items = [(s, k, d[k]) for s, d in zip(stored, sealed, strict=True) for k in VALUES]
    bodies = [(s, k, v[cut:]) for s, k, v in items]
    raws = [(s, k, a2b_base64(b)) for s, k, b in bodies]
    aads = [(raw, _cipher._AAD_PREFIX + s.encode() + b"\x00" + label + k.encode())
            for s, k, raw in raws]  # fmt: skip
    parts = [(raw[:nb], raw[nb:], aad) for raw, aad in aads]
    plains = [aead.decrypt(*p) for p in parts]
    texts = [p.decode() for p in plains]
    values = [_loads(t) for t in texts]
    lists = [v for v in values if type(v) is list]
    scalars = _cipher._SCALARS
    records = [SessionRecord(id="x", data=dict(d), expiry_date=utcnow()) for d in sealed]
    list_texts = [t for t in texts if t[:1] == "["]
    memo: dict[str, tuple[str, str, Any]] = {}
    patches = [(s, {"n": i}) for i, s in enumerate(stored)]
    encoded = [encode_value(v) for v in VALUES.values()] * n
    nonces = [os.urandom(nb) for _ in encoded]
    boxes = [
        aead.encrypt(nonce, t.encode(), b"x" * 100)
        for nonce, t in zip(nonces, encoded, strict=True)
    ]
    joined = [nonce + box for nonce, box in zip(nonces, boxes, strict=True)]
    m = len(items)
    _scan = _decoder.scan_once  # type: ignore[attr-defined]

    def empty3() -> None:
        for _s, _k, _v in items:
            pass

    def prefix_check() -> None:
        for _s, _k, v in items:
            if v[:cut] == prefix:
                v[cut:]

    def base64_decode() -> None:
        for _s, _k, b in bodies:
            a2b_base64(b)

    def aad() -> None:
        for s, k, _raw in raws:
            _cipher._AAD_PREFIX + s.encode() + b"\x00" + label + k.encode()

    def empty2() -> None:
        for _raw, _aad in aads:
            pass

    def slices() -> None:
        for raw, _aad in aads:
            raw[:nb], raw[nb:]

    def empty1() -> None:
        for _p in plains:
            pass

    def decrypt() -> None:
        for nonce, body, a in parts:
            aead.decrypt(nonce, body, a)

    def utf8() -> None:
        for p in plains:
            p.decode()

    def loads() -> None:
        for t in texts:
            _loads(t)

    def container() -> None:
        for v in lists:
            scalars.issuperset(map(type, v))

    def starts() -> None:
        for _s, _k, v in items:
            if v.startswith(prefix):
                v[cut:]

    def aad_once() -> None:
        bound = _cipher._AAD_PREFIX + stored[0].encode() + b"\x00" + label
        for _s, k, _raw in raws:
            bound + k.encode()

    def scan() -> None:
        for t in texts:
            _scan(t, 0)

    def container_text() -> None:
        for t in list_texts:
            "{" not in t and t.find("[", 1) < 0

    def lru_miss() -> None:
        cached = functools.lru_cache(maxsize=_cipher._REMEMBERED)(lambda s, k, v: None)
        for s, k, v in items:
            cached(s, k, v)

    def memo_miss() -> None:
        older: dict[str, tuple[str, str, Any]] = {}
        for s, k, v in items:
            if memo.get(v) is None and older.get(v) is None:
                memo[v] = (s, k, None)
                if len(memo) >= _cipher._REMEMBERED // 2:
                    older = memo.copy()
                    memo.clear()

    def whole_open() -> None:
        for r, s in zip(records, stored, strict=True):
            c.open(r, s)

    def encode() -> None:
        for v in encoded:
            encode_value(v)

    def urandom() -> None:
        for _p in plains:
            os.urandom(nb)

    def encrypt() -> None:
        for nonce, t in zip(nonces, encoded, strict=True):
            aead.encrypt(nonce, t.encode(), b"x" * 100)

    def base64_encode() -> None:
        for j in joined:
            prefix + b2a_base64(j, newline=False).decode()

    def seal1() -> None:
        for s, p in patches:
            c.seal(s, p)

    def empty_pairs() -> None:
        for _s, _p in patches:
            pass

    # The empty loops first: each step's figure is taken less the empty loop of its shape.
    return [
        ("(empty loop, 3 names)", m, empty3), ("(empty loop, 2 names)", m, empty2),
        ("(empty loop, 1 name)", m, empty1), ("(empty loop, pairs)", n, empty_pairs),
        ("prefix check and body slice", m, prefix_check), ("a2b_base64", m, base64_decode),
        ("associated data built", m, aad), ("nonce and body slices", m, slices),
        ("AESGCM.decrypt", m, decrypt), ("bytes.decode", m, utf8), ("_loads (JSON)", m, loads),
        ("list of scalars check", len(lists), container),
        ("str.startswith and body slice", m, starts),
        ("associated data, session part once", m, aad_once),
        ("json's scanner called itself (JSON)", m, scan),
        ("list of scalars check, on the text", len(lists), container_text),
        ("lru_cache miss (a no-op function)", m, lru_miss),
        ("two-dict memory miss", m, memo_miss),
        ("DataCipher.open, per session", n, whole_open),
        ("encode_value (JSON)", m, encode), ("os.urandom(12)", m, urandom),
        ("str.encode + AESGCM.encrypt", m, encrypt),
        ("b2a_base64, decode, prefix", m, base64_encode),
        ("DataCipher.seal of one value", n, seal1),
    ]  # fmt: skip


def _inner(n: int) -> None:
    for name, count, loop in _steps(n):
        # The collector off: which loop a collection falls in depends on the loops before it
        # (a full one scans every value this script made); its share belongs to a request's
        # count (benchmarks/instructions.py), not to a step's.
        gc.collect()
        gc.disable()
        os.getppid()  # callgrind: zero the counters
        loop()
        os.getegid()  # callgrind: dump them
        gc.enable()
        print(f"{name}\t{count}", file=sys.stderr)


_EMPTY = {"prefix check and body slice": 0, "a2b_base64": 0, "associated data built": 0,
          "nonce and body slices": 1, "AESGCM.decrypt": 0, "bytes.decode": 2,
          "_loads (JSON)": 2, "list of scalars check": 2, "str.startswith and body slice": 0,
          "associated data, session part once": 0, "json's scanner called itself (JSON)": 2,
          "list of scalars check, on the text": 2, "lru_cache miss (a no-op function)": 0,
          "two-dict memory miss": 0, "DataCipher.open, per session": 3,
          "encode_value (JSON)": 2, "os.urandom(12)": 2, "str.encode + AESGCM.encrypt": 1,
          "b2a_base64, decode, prefix": 2, "DataCipher.seal of one value": 3}  # fmt: skip


def count(n: int) -> list[tuple[str, int]]:
    """Instructions per value (or per call) of each step, its empty loop taken off."""
    with tempfile.TemporaryDirectory(prefix="cipher-steps-") as tmp:
        out = Path(tmp) / "cg.out"
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
               "--zero-before=getppid", "--dump-before=getegid", sys.executable, "-m",
               "benchmarks.cipher_steps", "--inner", "-n", str(n)]  # fmt: skip
        env = {"PYTHONHASHSEED": "0", **os.environ}
        env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if done.returncode:
            raise SystemExit(f"valgrind failed:\n{done.stderr[-3000:]}")
        names = [line.split("\t") for line in done.stderr.splitlines() if "\t" in line]
        per: list[tuple[str, int]] = []
        for i, (name, values) in enumerate(names, start=1):
            text = Path(f"{out}.{i}").read_text()
            m = re.search(r"^(?:summary|totals):\s*(\d+)", text, re.M)
            per.append((name, (int(m.group(1)) if m else 0) // int(values)))
    empties = [v for _, v in per[:4]]
    return [(name, v - empties[_EMPTY[name]]) for name, v in per[4:]]


def cpu_us(n: int) -> tuple[float, float]:
    """CPU µs (``process_time``) of one cold ``DataCipher.open`` of the benchmark session,
    each under another of ``n`` sessions sealed by another cipher (nothing remembered), and
    of one seal of one value (a write's ``n``): no valgrind, for an A/B of two trees."""
    import time

    from session_service.records import SessionRecord, utcnow
    from session_service.settings.encryption import parse_encryption_keys
    from session_service.stores._cipher import DataCipher

    keys = parse_encryption_keys("SESSION_ENCRYPTION_KEYS", KEY)
    assert keys is not None
    sealer, c = DataCipher(keys), DataCipher(keys)
    stored = [f"{i:064x}" for i in range(n)]
    data = {"user_id": "bench-user", **VALUES}
    records = [
        SessionRecord(id="x", data=sealer.seal(s, data), expiry_date=utcnow()) for s in stored
    ]
    began = time.process_time()
    for record, s in zip(records, stored, strict=True):
        c.open(record, s)
    opening = (time.process_time() - began) / n * 1e6
    began = time.process_time()
    for i, s in enumerate(stored):
        c.seal(s, {"n": i})
    return opening, (time.process_time() - began) / n * 1e6


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cipher_steps")
    p.add_argument("-n", type=int, default=2000, help="sessions (three values each)")
    p.add_argument("--cpu", action="store_true", help="CPU µs of a cold open and a seal")
    p.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.cpu:
        opening, sealing = cpu_us(args.n)
        print(f"open {opening:.2f} µs per session, seal {sealing:.2f} µs per value")
        return 0
    if args.inner:
        _inner(args.n)
        return 0
    for name, per in count(args.n):
        print(f"{name:40} {per:>8,} instructions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
