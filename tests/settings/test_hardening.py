"""Settings an attacker or a newcomer got wrong, refused at start-up.

A URL whose password holds an unencoded ``@`` (and half of it printed), a Redis URL option the
store cannot honour, a ``__Host-``/``__Secure-`` cookie a browser would drop, and a ``redis://``
URL without the ``redis`` extra: each is a :class:`SessionConfigError` naming what to fix, at
``SessionSettings.from_env``, ``SessionStoreBackend.from_url`` and the CLI alike.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from session_service import SessionStoreBackend
from session_service.errors import SessionConfigError
from session_service.settings import SessionSettings, mask_url

from ..cli.test_cli import one_error_line, run
from ..support.webapp import SECRET


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"SESSION_DATA_DIR": str(tmp_path), "SESSION_SECRET_KEY": SECRET, **extra}


# -- a password holding an unencoded "@" (item 4) ----------------------------------------------

#: The password is "s3cr3t<c>Pa55word" for each <c> that must be percent-encoded in a URL.
_SPECIALS = "@#/?:%"
_AT_URLS = [
    "postgresql://app:s3cr3t@Pa55word@db.example/app",
    "postgres://app:s3cr3t@Pa55word@db.example:5432/app",
    "postgresql+asyncpg://s3cr3t@Pa55word@db.example/app",
    "redis://:s3cr3t@Pa55word@cache.example:6379/0",
    "rediss://app:s3cr3t@Pa55word@cache.example:6380/0",
    "redis://s3cr3t@Pa55word@cache.example/0",
    "redis+sentinel://:s3cr3t@Pa55word@s1.example:26379,s2.example/mymaster",
]


def _leaks(text: str) -> bool:
    return "s3cr3t" in text or "Pa55word" in text


@pytest.mark.parametrize("url", _AT_URLS)
def test_a_password_with_an_unencoded_at_is_refused_at_from_env(tmp_path: Path, url: str) -> None:
    with pytest.raises(SessionConfigError) as caught:
        SessionSettings.from_env(_env(tmp_path, SESSION_DB_URL=url))
    message = str(caught.value)
    assert "SESSION_DB_URL" in message and "%40" in message
    assert not _leaks(message), message


@pytest.mark.parametrize("url", _AT_URLS)
def test_a_password_with_an_unencoded_at_is_refused_by_from_url(url: str) -> None:
    with pytest.raises(SessionConfigError) as caught:
        SessionStoreBackend.from_url(url)
    assert not _leaks(str(caught.value))


def test_a_password_with_an_unencoded_at_is_refused_by_the_cli(tmp_path: Path) -> None:
    url = "postgresql://app:s3cr3t@Pa55word@127.0.0.1:1/app"
    by_flag = one_error_line(run("--db-url", url, "stats", data_dir=tmp_path))
    by_env = one_error_line(run("stats", data_dir=tmp_path, env={"SESSION_DB_URL": url}))
    assert "--db-url" in by_flag and "SESSION_DB_URL" in by_env
    assert not _leaks(by_flag + by_env)


def test_a_percent_encoded_at_is_accepted_and_masked(tmp_path: Path) -> None:
    url = "postgresql://app:s3cr3t%40Pa55word@db.example/app"
    settings = SessionSettings.from_env(_env(tmp_path, SESSION_DB_URL=url))
    assert settings.display_url == "postgresql+asyncpg://app:***@db.example/app"


@pytest.mark.parametrize("special", _SPECIALS)
@pytest.mark.parametrize(
    "template",
    [
        "postgresql://app:{pw}@db.example/app",
        "postgresql://app:{pw}@db.example/app?sslmode=require",
        "redis://:{pw}@cache.example:6379/0",
        "rediss://app:{pw}@cache.example:6380/0?key_prefix=x",
        "redis://{pw}@cache.example/0",
        "redis+sentinel://:{pw}@s1.example:26379,s2.example/mymaster",
    ],
)
def test_masking_never_prints_any_part_of_a_password(template: str, special: str) -> None:
    url = template.format(pw=f"s3cr3t{special}Pa55word")
    # With ":" and no user name of its own, the URL says user "s3cr3t", password "Pa55word".
    parts = ["Pa55word"] if special == ":" and "//{pw}" in template else ["s3cr3t", "Pa55word"]
    masked = mask_url(url)
    assert not any(part in masked for part in parts), masked
    # Whatever the URL parses to, nobody sees the password: in a refusal neither.
    try:
        SessionSettings.from_env({"SESSION_DB_URL": url, "SESSION_SECRET_KEY": SECRET})
    except SessionConfigError as exc:
        assert not any(part in str(exc) for part in parts), exc


# -- Redis URL options the store cannot honour (item 9) ----------------------------------------


@pytest.mark.parametrize(
    ("query", "option"),
    [
        ("decode_responses=true", "decode_responses"),
        ("protocol=3", "protocol"),
        ("encoding=latin-1", "encoding"),
        ("retry_on_timeout=true", "retry_on_timeout"),
        ("socket_timeout=1&single_connection_client=true", "single_connection_client"),
        ("sentinel_password=x", "sentinel_password"),  # a plain redis:// URL has no Sentinels
        ("ssl_certfile=/etc/c.pem", "ssl_certfile"),  # redis:// is not TLS
    ],
)
def test_a_redis_option_the_store_cannot_honour_is_refused(
    tmp_path: Path, query: str, option: str
) -> None:
    url = f"redis://127.0.0.1:6379/0?key_prefix=x&{query}"
    with pytest.raises(SessionConfigError) as at_start:
        SessionSettings.from_env(_env(tmp_path, SESSION_DB_URL=url))
    assert "SESSION_DB_URL" in str(at_start.value) and option in str(at_start.value)
    with pytest.raises(SessionConfigError) as by_url:
        SessionStoreBackend.from_url(url)
    assert option in str(by_url.value)


def test_a_refused_redis_option_is_a_one_line_cli_error(tmp_path: Path) -> None:
    url = "redis://127.0.0.1:1/0?decode_responses=true"
    line = one_error_line(run("--db-url", url, "stats", data_dir=tmp_path))
    assert "decode_responses" in line and "--db-url" in line


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0?key_prefix=a:&socket_timeout=2&health_check_interval=10"
        "&client_name=app&max_connections=20&socket_keepalive=true&password=x"
        "&allow_eviction=true",
        "rediss://127.0.0.1:6380/0?ssl_cert_reqs=required&ssl_ca_certs=/etc/ca.pem",
        "redis+sentinel://127.0.0.1:26379/mymaster/0?sentinel_password=x&socket_timeout=2",
        "rediss+sentinel://127.0.0.1:26379/mymaster?ssl_check_hostname=false",
    ],
)
def test_the_redis_options_the_store_honours_are_accepted(tmp_path: Path, url: str) -> None:
    settings = SessionSettings.from_env(_env(tmp_path, SESSION_DB_URL=url))
    assert settings.store_kind == "redis"


@pytest.mark.stores("redis")
async def test_a_redis_url_with_honoured_options_serves_sessions(db_url: str) -> None:
    # The test URL carries ?key_prefix=; the others are connection options redis-py applies.
    url = f"{db_url}&socket_timeout=3&health_check_interval=30&client_name=sessions"
    backend = await SessionStoreBackend.connect(url)
    try:
        assert await backend.load("no-such-session") is None
    finally:
        await backend.close()


# -- cookie name prefixes (item 10) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"SESSION_COOKIE_NAME": "__Secure-sid"}, "SESSION_COOKIE_SECURE"),
        ({"SESSION_COOKIE_NAME": "__secure-sid"}, "SESSION_COOKIE_SECURE"),
        ({"SESSION_COOKIE_NAME": "__Host-sid"}, "SESSION_COOKIE_SECURE"),
        (
            {
                "SESSION_COOKIE_NAME": "__Host-sid",
                "SESSION_COOKIE_SECURE": "true",
                "SESSION_COOKIE_DOMAIN": "example.com",
            },
            "SESSION_COOKIE_DOMAIN",
        ),
        (
            {
                "SESSION_COOKIE_NAME": "__Host-sid",
                "SESSION_COOKIE_SECURE": "true",
                "SESSION_COOKIE_PATH": "/app",
            },
            "SESSION_COOKIE_PATH",
        ),
        (
            {"SESSION_COOKIE_NAME": "__HOST-sid", "SESSION_COOKIE_PATH": "/app/"},
            "SESSION_COOKIE_SECURE",
        ),
    ],
)
def test_a_prefixed_cookie_name_with_settings_browsers_reject_is_refused(
    tmp_path: Path, settings: dict[str, str], named: str
) -> None:
    with pytest.raises(SessionConfigError) as caught:
        SessionSettings.from_env(_env(tmp_path, **settings))
    message = str(caught.value)
    assert named in message and "SESSION_COOKIE_NAME" in message, message


@pytest.mark.parametrize(
    "settings",
    [
        {"SESSION_COOKIE_NAME": "__Secure-sid", "SESSION_COOKIE_SECURE": "true"},
        {
            "SESSION_COOKIE_NAME": "__Secure-sid",
            "SESSION_COOKIE_SECURE": "true",
            "SESSION_COOKIE_DOMAIN": "example.com",
            "SESSION_COOKIE_PATH": "/app",
        },
        {"SESSION_COOKIE_NAME": "__Host-sid", "SESSION_COOKIE_SECURE": "true"},
        {"SESSION_COOKIE_NAME": "__Host-sid", "DEPLOYMENT": "cluster"},
        {"SESSION_COOKIE_NAME": "Host-sid", "SESSION_COOKIE_PATH": "/app"},
    ],
)
def test_a_prefixed_cookie_name_with_what_browsers_need_is_accepted(
    tmp_path: Path, settings: dict[str, str]
) -> None:
    env = _env(tmp_path, **settings)
    if env.get("DEPLOYMENT") == "cluster":
        env["SESSION_DB_URL"] = "postgresql://app@db.example/app"
    assert SessionSettings.from_env(env).cookie_name == settings["SESSION_COOKIE_NAME"]


# -- a redis:// URL without the redis extra (item 14) ------------------------------------------

#: Runs the rest of the command line as a program in which ``import redis`` fails, as it does
#: where session-service was installed without its ``redis`` extra.
_WITHOUT_REDIS = "import sys; sys.modules['redis'] = None; "
_EXTRA_HINT = "pip install 'session-service[redis]'"


def _python(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SESSION_")}
    return subprocess.run(
        [sys.executable, "-c", _WITHOUT_REDIS + code],
        env={**clean, "SESSION_DATA_DIR": str(tmp_path), "SESSION_SECRET_KEY": SECRET, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "redis+sentinel://h/mymaster"])
def test_an_app_on_redis_without_the_extra_is_told_which_extra_to_install(
    tmp_path: Path, url: str
) -> None:
    code = (
        "import os\n"
        "from session_service import DefaultSessionService, SessionStoreBackend\n"
        "from session_service.errors import SessionConfigError\n"
        "url = os.environ['SESSION_DB_URL']\n"
        "builds = (DefaultSessionService.from_env, lambda: SessionStoreBackend.from_url(url))\n"
        "for build in builds:\n"
        "    try:\n"
        "        build()\n"
        "    except SessionConfigError as exc:\n"
        "        print('refused:', exc)\n"
    )
    result = _python(code, tmp_path, SESSION_DB_URL=url)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and all(_EXTRA_HINT in line for line in lines), result.stdout


def test_the_cli_on_redis_without_the_extra_says_which_extra_to_install(tmp_path: Path) -> None:
    code = (
        "from session_service.cli import main; "
        "sys.exit(main(['--db-url', 'redis://127.0.0.1:6379/0', 'stats']))"
    )
    line = one_error_line(_python(code, tmp_path))
    assert _EXTRA_HINT in line and "unexpected" not in line


def test_sql_urls_need_no_redis_extra(tmp_path: Path) -> None:
    code = (
        "from session_service import DefaultSessionService; "
        "DefaultSessionService.from_env(); print('ok')"
    )
    result = _python(code, tmp_path, SESSION_DB_URL=f"sqlite:///{tmp_path}/s.sqlite")
    assert result.stdout.strip() == "ok", result.stderr
