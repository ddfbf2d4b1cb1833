"""``SESSION_ENCRYPTION_KEYS``: ``KEYID:BASE64KEY`` entries, 32-byte keys, the first one
encrypting; a malformed entry is a ``SessionConfigError`` that names the variable and never
shows key material; the setting needs the ``encryption`` extra and says so; no repr of the
settings, the service, the backend or the store shows a key."""

from __future__ import annotations

import base64
import os
import sys

import pytest

from session_service import DefaultSessionService, SessionConfigError, SessionSettings
from session_service.backend import SessionStoreBackend, apply_encryption
from session_service.testing.encryption import keys_setting

pytest.importorskip("cryptography", reason="the `encryption` extra is not installed")

NAME = "SESSION_ENCRYPTION_KEYS"
KEY = base64.b64encode(b"K" * 32).decode()
SHORT = base64.b64encode(b"secret-material-16").decode()
LONG = base64.b64encode(b"L" * 33).decode()


def test_unset_or_blank_is_off(env: dict[str, str]) -> None:
    assert SessionSettings.from_env(env).encryption_keys is None
    assert SessionSettings.from_env({**env, NAME: " , "}).encryption_keys is None


def test_entries_in_order_the_first_encrypts(env: dict[str, str]) -> None:
    other = base64.b64encode(os.urandom(32)).decode()
    keys = SessionSettings.from_env({**env, NAME: f" new:{KEY} , old-1:{other} "}).encryption_keys
    assert keys is not None
    assert keys.ids == ("new", "old-1") and keys.current == "new"
    assert keys.keys == (b"K" * 32, base64.b64decode(other))


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (KEY, "must be KEYID:BASE64KEY"),  # no key id
        (f":{KEY}", "must be KEYID:BASE64KEY"),
        (f"a b:{KEY}", "must be KEYID:BASE64KEY"),
        (f"{'x' * 33}:{KEY}", "must be KEYID:BASE64KEY"),
        (f"a:{KEY},a:{KEY}", "listed twice"),
        (f"a:{SHORT}", "must be 32 bytes"),
        (f"a:{LONG}", "must be 32 bytes"),
        (f"a:{KEY[:-2]}!!", "not valid base64"),
        (f"a:{KEY},,b:{KEY}", "entry 2 must be KEYID:BASE64KEY"),
    ],
)
def test_a_malformed_entry_is_refused_without_showing_the_key(
    env: dict[str, str], raw: str, says: str
) -> None:
    with pytest.raises(SessionConfigError) as caught:
        SessionSettings.from_env({**env, NAME: raw})
    message = str(caught.value)
    assert NAME in message and says in message
    for material in (KEY, SHORT, LONG, KEY[:-2], "secret-material"):
        assert material not in message
    error = caught.value  # no chained error (a binascii one) that could quote the text
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


def test_without_the_extra_the_error_names_it(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m == "cryptography" or m.startswith("cryptography.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "cryptography", None)  # as if not installed
    with pytest.raises(SessionConfigError, match=r"session-service\[encryption\]") as caught:
        SessionSettings.from_env({**env, NAME: f"a:{KEY}"})
    assert NAME in str(caught.value) and KEY not in str(caught.value)
    assert SessionSettings.from_env(env).encryption_keys is None  # off: the extra not needed


def test_no_repr_shows_a_key(env: dict[str, str]) -> None:
    setting = keys_setting("k1", "k2")
    settings = SessionSettings.from_env({**env, NAME: setting, "SESSION_DB_URL": "memory://"})
    service = DefaultSessionService(None, settings)
    store = service.get_session_store().store
    assert getattr(store, "cipher", None) is not None  # the service applied the keys
    cipher = store.cipher  # type: ignore[attr-defined]
    backend = service.get_session_store()
    shown = " ".join(
        repr(x) for x in (settings, settings.encryption_keys, service, store, backend, cipher)
    )
    for entry in setting.split(","):
        material = entry.split(":", 1)[1]
        assert material not in shown
        assert repr(base64.b64decode(material))[2:-1] not in shown
    assert "b'" not in repr(settings.encryption_keys)


class _OwnStore:
    """Stands for a store that does not build on SessionStoreBase."""


def test_keys_for_a_store_of_your_own_are_refused(env: dict[str, str]) -> None:
    settings = SessionSettings.from_env({**env, NAME: keys_setting("k1")})
    with pytest.raises(SessionConfigError, match="cannot encrypt"):
        apply_encryption(_OwnStore(), settings)
    plain = SessionStoreBackend.from_url("memory://")
    apply_encryption(plain.store, SessionSettings.from_env(env))  # off: nothing to refuse


def test_the_service_applies_the_keys_to_a_backend_it_is_given(env: dict[str, str]) -> None:
    settings = SessionSettings.from_env({**env, NAME: keys_setting("k1")})
    backend = SessionStoreBackend.from_url("memory://")
    DefaultSessionService(backend, settings)
    assert getattr(backend.store, "cipher", None) is not None
    built = DefaultSessionService("memory://", settings).get_session_store()
    assert getattr(built.store, "cipher", None) is not None
