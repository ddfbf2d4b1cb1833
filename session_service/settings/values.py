"""One environment variable's text to one typed value, or a :class:`SessionConfigError` that
names the variable and says what it takes. Pure functions of the name and the raw text (``""``
when the variable is unset or blank), each giving the default for an empty value."""

from __future__ import annotations

import ipaddress

from ..errors import SessionConfigError
from .defaults import MAX_TTL_SECONDS, IpNetwork

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_bool(name: str, raw: str, default: bool) -> bool:
    value = raw.strip().lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SessionConfigError(f"{name} must be true or false, not {value!r}")


def parse_int(name: str, raw: str, default: int, *, minimum: int, maximum: int) -> int:
    text = raw.strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise SessionConfigError(f"{name} must be a whole number, not {text!r}") from None
    if value < minimum:
        raise SessionConfigError(f"{name} must be at least {minimum}, not {value}")
    if value > maximum:
        raise SessionConfigError(f"{name} must be at most {maximum}, not {value}")
    return value


def parse_cap(name: str, raw: str, floor: int, floor_name: str) -> int:
    """A cap in seconds: 0 (off, the default) or from ``floor`` (the value of ``floor_name``)
    up to 10 years: ``SESSION_ABSOLUTE_TTL_SECONDS`` shorter than the idle TTL
    would make the idle one meaningless, and is more likely a typo."""
    value = parse_int(name, raw, 0, minimum=0, maximum=MAX_TTL_SECONDS)
    if 0 < value < floor:
        raise SessionConfigError(
            f"{name} must be 0 (off) or at least {floor_name} ({floor}), not {value}"
        )
    return value


def parse_seconds(name: str, raw: str, default: float, *, minimum: float, maximum: float) -> float:
    text = raw.strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise SessionConfigError(f"{name} must be a number of seconds, not {text!r}") from None
    if not minimum <= value <= maximum:  # also refuses nan and inf
        raise SessionConfigError(
            f"{name} must be between {minimum:g} and {maximum:g} seconds, not {text!r}"
        )
    return value


def parse_fraction(name: str, raw: str, default: float) -> float:
    """A number from 0 to 1 (``0.05``), ``default`` when empty."""
    text = raw.strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise SessionConfigError(f"{name} must be a number from 0 to 1, not {text!r}") from None
    if not 0.0 <= value <= 1.0:  # also refuses nan and inf
        raise SessionConfigError(f"{name} must be from 0 to 1, not {text!r}")
    return value


def parse_tracking(name: str, raw: str) -> str:
    """``off``, ``on`` or ``coarse``, from false/true (any spelling :func:`parse_bool` takes)
    or ``coarse``."""
    value = raw.strip().lower()
    if value == "coarse":
        return "coarse"
    if not value or value in _FALSE:
        return "off"
    if value in _TRUE:
        return "on"
    raise SessionConfigError(f"{name} must be false, true or coarse, not {value!r}")


def parse_networks(name: str, raw: str) -> tuple[IpNetwork, ...]:
    """Comma-separated ips and CIDRs (``10.0.0.1, 10.1.0.0/16, ::1``) as networks."""
    networks = []
    for item in raw.split(","):
        if not item.strip():
            continue
        try:
            # strict=False: "10.1.2.3/16" means the network 10.1.0.0/16, as in nginx.
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise SessionConfigError(
                f"{name} must be comma-separated ip addresses or CIDR networks "
                f"(e.g. 10.0.0.0/8, ::1), not {item.strip()!r}"
            ) from None
    return tuple(networks)
