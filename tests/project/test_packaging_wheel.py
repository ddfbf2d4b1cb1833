"""The distributions a user installs: ``python -m build`` makes a wheel and an sdist whose
metadata ``twine check`` accepts, and the wheel alone, in a virtualenv with nothing else,
imports, answers ``session-service --version``, migrates a SQLite database and serves a request
through the middleware. ``make run`` installs only the ``demo`` extra, not the whole ``dev``.

The fresh virtualenv gets the wheel's own dependencies from the package index (pip's cache
makes that quick after the first run), so this test needs the index the install does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import session_service

# The checkout's root, wherever under tests/ this file is moved.
ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())

# One request through the middleware, driven as a server would (raw ASGI: the bare virtualenv
# has no HTTP client): the first response sets the cookie, the second sends it back and reads.
_SMOKE = """
import asyncio, session_service
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from session_service import DefaultSessionService, get_session

service = DefaultSessionService.from_env(auto_migrate=True)

async def visit(request):
    session = get_session(request)
    session["visits"] = session.get("visits", 0) + 1
    return JSONResponse(dict(session))

app = Starlette(routes=[Route("/", visit)], middleware=[service.session_layer()])

async def request(headers):
    sent = []
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": "/", "raw_path": b"/", "query_string": b"",
             "root_path": "", "headers": headers, "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 80)}
    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}
    async def send(message):
        sent.append(message)
    await app(scope, receive, send)
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], dict(start["headers"]), body

async def main():
    await service.migrate()
    status, headers, body = await request([(b"host", b"testserver")])
    assert status == 200 and body == b'{"visits":1}', (status, body)
    cookie = headers[b"set-cookie"].split(b";")[0]
    status, _, body = await request([(b"host", b"testserver"), (b"cookie", cookie)])
    assert status == 200 and body == b'{"visits":2}', (status, body)
    await service.close()
    print(session_service.__file__)

asyncio.run(main())
"""


def _run(*command: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(part) for part in command],
        capture_output=True, text=True, timeout=600, check=False, **kwargs,  # type: ignore[call-overload]
    )  # fmt: skip
    assert done.returncode == 0, f"{command}:\n{done.stdout}\n{done.stderr}"
    return done  # type: ignore[no-any-return]


@pytest.mark.slow
def test_the_wheel_installs_and_runs_in_a_bare_virtualenv(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "build", "--outdir", dist, ROOT, cwd=tmp_path)
    wheels = list(dist.glob("session_service-*.whl"))
    sdists = list(dist.glob("session_service-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in dist.iterdir())
    _run(sys.executable, "-m", "twine", "check", "--strict", *wheels, *sdists)

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv)
    bin_dir = venv / "bin"
    _run(bin_dir / "python", "-m", "pip", "install", "--disable-pip-version-check", wheels[0])

    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SESSION_", "PYTHON"))}
    env.pop("DEPLOYMENT", None)
    env["SESSION_DATA_DIR"] = str(work / "data")

    version = _run(bin_dir / "session-service", "--version", cwd=work, env=env).stdout
    assert version.strip() == f"session-service {session_service.__version__}"
    migrated = _run(bin_dir / "session-service", "--json", "migrate", cwd=work, env=env)
    assert '"changed": true' in migrated.stdout
    served = _run(bin_dir / "python", "-c", _SMOKE, cwd=work, env=env).stdout
    # The package came from the wheel in the virtualenv, not from this checkout.
    assert Path(served.strip()).is_relative_to(venv)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_installs_only_the_demo_extra() -> None:
    # -W pyproject.toml: as if it had just changed, so make shows the install it would run.
    done = _run("make", "-n", "-W", "pyproject.toml", "run", cwd=ROOT)
    installs = [line for line in done.stdout.splitlines() if "pip install" in line]
    assert len(installs) == 1, done.stdout
    assert "'.[demo]'" in installs[0]
