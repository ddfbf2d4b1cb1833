"""The standalone signing key, kept in a file of its own when ``SESSION_SECRET_KEY`` is unset:
generated once, private to its owner, shared by every process on the data directory."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from ..errors import SessionConfigError

SECRET_FILE = "secret_key"  # noqa: S105 - a file name, not a secret


def load_or_create_secret(data_dir: Path) -> str:
    """The standalone key: generated once with :mod:`secrets`, kept at mode 0600, reused.

    Written to a temporary file and hard-linked into place, so two processes starting at once
    agree on one key and neither can read a half-written file.
    """
    path = data_dir / SECRET_FILE
    try:
        existing = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        existing = ""
    except OSError as exc:
        raise SessionConfigError(
            f"SESSION_SECRET_KEY is unset and the generated key at {path} cannot be read "
            f"({exc.strerror}); set SESSION_SECRET_KEY, or point SESSION_DATA_DIR at a "
            "readable directory"
        ) from None
    if existing:
        return existing
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # private: keys, sessions
        tmp = data_dir / f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_urlsafe(48))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won the race; use its key
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        key = path.read_text(encoding="ascii").strip()
    except OSError as exc:
        raise SessionConfigError(
            f"SESSION_DATA_DIR {str(data_dir)!r} is not writable ({exc.strerror}); "
            "set SESSION_DATA_DIR to a writable directory or set SESSION_SECRET_KEY"
        ) from None
    if not key:
        # Never sign with an empty key: anyone could forge a cookie.
        raise SessionConfigError(
            f"SESSION_SECRET_KEY is unset and the key file {path} is empty; delete the file "
            "to have a new key generated, or set SESSION_SECRET_KEY"
        )
    return key
