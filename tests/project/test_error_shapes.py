"""Every error the library raises on purpose is a ``SessionServiceError`` (``errors.py``), so
an app can catch one base class: no module raises a built-in exception class of its own
accord, except where Python's own protocols call for one (a module's ``__getattr__``, a dict's
``KeyError``, an abstract primitive) or where the raise is caught on the next lines."""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import pytest

from session_service import SessionConfigError, SessionDataError, SessionStoreBackend
from session_service.limits import LoginGuard, storage_for, unlock
from session_service.stores.memory import MemorySessionStore
from session_service.web.session import get_session

PACKAGE = Path(__file__).resolve().parents[2] / "session_service"

#: (module, exception): a protocol of Python's own asks for exactly that class there.
ALLOWED = {
    ("__init__.py", "AttributeError"),  # a module's __getattr__ (lazy exports)
    ("web/session.py", "KeyError"),  # Session is a dict: d[k], pop and popitem raise KeyError
    ("settings/urls.py", "ValueError"),  # caught on the next lines: a SessionConfigError
}


def _builtin_raises() -> list[tuple[str, int, str]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Raise) or node.exc is None:
                continue
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            name = target.id if isinstance(target, ast.Name) else ""
            kind = getattr(builtins, name, None)
            if isinstance(kind, type) and issubclass(kind, BaseException):
                found.append((path.relative_to(PACKAGE).as_posix(), node.lineno, name))
    return found


def test_no_module_raises_a_builtin_error_on_purpose() -> None:
    stray = [
        f"{module}:{line} raises {name}"
        for module, line, name in _builtin_raises()
        if name != "NotImplementedError" and (module, name) not in ALLOWED
    ]
    assert not stray, "raise a SessionServiceError subclass instead:\n" + "\n".join(stray)


def test_the_checker_sees_a_builtin_raise() -> None:
    assert ("web/session.py", "KeyError") in {(m, n) for m, _, n in _builtin_raises()}


def test_an_object_that_is_not_a_store_is_a_config_error() -> None:
    with pytest.raises(SessionConfigError, match="is not a session store"):
        SessionStoreBackend(object())  # type: ignore[arg-type]


def test_get_session_without_the_middleware_is_a_config_error() -> None:
    from starlette.requests import Request

    with pytest.raises(SessionConfigError, match="session_layer"):
        get_session(Request({"type": "http", "headers": []}))


async def test_guard_and_unlock_refuse_bad_arguments_as_data_errors() -> None:
    storage = storage_for(MemorySessionStore("memory://error-shapes"))
    with pytest.raises(SessionDataError, match="must be str"):
        await LoginGuard(storage).check(42, "192.0.2.1")  # type: ignore[arg-type]
    with pytest.raises(SessionDataError, match="needs a user, an ip"):
        await unlock(storage)
