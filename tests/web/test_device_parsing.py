"""Device tracking's pure parts: settings, client addresses from hostile headers, labels.

No store is involved here (these are functions of a request's scope or a string); the same
behaviours through a real app on every store are in ``test_devices.py``.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from session_service import SessionConfigError, SessionSettings
from session_service.devices import device_label, new_handle
from session_service.web.client import client_ip, coarse

from ..support.webapp import SECRET


def _settings(tmp_path: Path, **env: str) -> SessionSettings:
    return SessionSettings.from_env(
        {"SESSION_DATA_DIR": str(tmp_path), "SESSION_SECRET_KEY": SECRET, **env}
    )


# -- settings ------------------------------------------------------------------------------


def test_device_settings_defaults(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert settings.track_devices == "off"
    assert settings.trusted_proxies == ()
    assert settings.last_seen_seconds == 300


@pytest.mark.parametrize(
    ("raw", "mode"),
    [("false", "off"), ("0", "off"), ("true", "on"), ("YES", "on"), (" coarse ", "coarse")],
)
def test_track_devices_values(tmp_path: Path, raw: str, mode: str) -> None:
    assert _settings(tmp_path, SESSION_TRACK_DEVICES=raw).track_devices == mode


def test_trusted_proxies_are_ips_and_networks(tmp_path: Path) -> None:
    settings = _settings(tmp_path, SESSION_TRUSTED_PROXIES=" 10.0.0.1, 172.16.0.0/12,,::1 ")
    assert settings.trusted_proxies == (
        ipaddress.ip_network("10.0.0.1/32"),
        ipaddress.ip_network("172.16.0.0/12"),
        ipaddress.ip_network("::1/128"),
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SESSION_TRACK_DEVICES": "maybe"}, "SESSION_TRACK_DEVICES must be false, true or"),
        ({"SESSION_TRUSTED_PROXIES": "10.0.0.0/8, proxy.local"}, "'proxy.local'"),
        ({"SESSION_TRUSTED_PROXIES": "10.0.0.0/33"}, "SESSION_TRUSTED_PROXIES"),
        ({"SESSION_LAST_SEEN_SECONDS": "0"}, "SESSION_LAST_SEEN_SECONDS must be at least 1"),
        ({"SESSION_LAST_SEEN_SECONDS": "5m"}, "SESSION_LAST_SEEN_SECONDS must be a whole"),
    ],
)
def test_bad_device_settings_name_the_variable(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    with pytest.raises(SessionConfigError, match=message):
        _settings(tmp_path, **env)


# -- the client's address --------------------------------------------------------------------

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8:ff::/48"))


def _scope(peer: str | None, *forwarded: bytes) -> dict[str, object]:
    return {
        "client": None if peer is None else (peer, 1234),
        "headers": [(b"x-forwarded-for", value) for value in forwarded],
    }


def _ip(peer: str | None, *forwarded: bytes) -> str | None:
    address = client_ip(_scope(peer, *forwarded), PROXIES)
    return None if address is None else str(address)


def test_right_most_untrusted_hop_across_several_headers() -> None:
    assert _ip("10.0.0.1", b"192.0.2.1, 203.0.113.9", b"10.0.0.2") == "203.0.113.9"


def test_all_hops_trusted_gives_the_left_most() -> None:
    assert _ip("10.0.0.1", b"10.0.0.3, 10.0.0.2") == "10.0.0.3"


def test_untrusted_peer_and_missing_peer() -> None:
    assert _ip("203.0.113.1", b"198.51.100.1") == "203.0.113.1"
    assert _ip(None, b"198.51.100.1") is None
    assert _ip("unix-socket") is None
    assert str(client_ip(_scope("10.0.0.1", b"198.51.100.1"), ())) == "10.0.0.1"


@pytest.mark.parametrize(
    "forwarded",
    [
        b"\xff\xfe garbage",
        b"203.0.113.9, 2001:db8::zz",
        b"9" * 10_240,
        b",".join([b"198.51.100.1"] * 100),
        b"[2001:db8::1]:443",
    ],
)
def test_garbage_is_ignored_for_the_peer(forwarded: bytes) -> None:
    assert _ip("2001:db8:ff::1", forwarded) == "2001:db8:ff::1"


def test_coarse_networks() -> None:
    assert coarse(ipaddress.ip_address("203.0.113.77")) == "203.0.113.0/24"
    assert coarse(ipaddress.ip_address("2001:db8:abcd:12::99")) == "2001:db8:abcd::/48"


# -- labels and handles ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agent", "label"),
    [
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Firefox on Windows",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Mobile Safari/537.36",
            "Chrome on Android",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "Safari on iOS",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Safari/605.1.15",
            "Safari on macOS",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
            "Edge on Windows",
        ),
        ("curl/8.5.0", "curl"),
        ("", "Unknown browser"),
        (None, "Unknown browser"),
        ("\x00\U0001f600 not a browser", "Unknown browser"),
    ],
)
def test_device_labels(agent: str | None, label: str) -> None:
    assert device_label(agent) == label


def test_handles_are_random_and_short() -> None:
    handles = {new_handle() for _ in range(100)}
    assert len(handles) == 100
    assert all(len(h) == 16 for h in handles)
