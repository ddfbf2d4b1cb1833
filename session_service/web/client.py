"""The client's address, as far as it can be believed.

``X-Forwarded-For`` is a list any client can write; only the hops appended by proxies we run
are true. So the header is read only when the direct peer is a trusted proxy
(``SESSION_TRUSTED_PROXIES``), and then from the right: each trusted hop is skipped, and the
first hop that is not trusted is the client (a proxy we trust vouches for the address it saw,
nothing further left). A header that is not a clean list of ip addresses, or is implausibly
long, is ignored as a whole and the peer's own address is used: a forged or broken header
never becomes an address, an error or a 500. A peer address that is not a bare ip (an IPv6
zone id, ``fe80::1%eth0``) is no address either: no ip is recorded.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import Scope

from ..settings import IpNetwork

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Longest ``X-Forwarded-For`` read (all its headers together): real chains are a few hops.
MAX_FORWARDED_BYTES = 1024
#: Most hops read; a longer chain is a forgery or a loop, and is ignored.
MAX_FORWARDED_HOPS = 16


def _parse(text: str) -> IpAddress | None:
    """A bare ip address, or ``None`` for anything else.

    ``ipaddress`` accepts an IPv6 zone id (``fe80::1%eth0``), any text of any length after the
    ``%``; it names an interface of the machine that saw the address, not the client, so an
    address carrying one is not an address here.
    """
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None:
            return None
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped  # ::ffff:203.0.113.5 is the IPv4 client 203.0.113.5
    return address


def _trusted(address: IpAddress, proxies: Iterable[IpNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in proxies)


def _forwarded_hops(headers: Iterable[tuple[bytes, bytes]]) -> list[bytes] | None:
    """The comma-separated hops of every ``X-Forwarded-For`` header, or ``None`` when absent
    or too long to be real."""
    values = [value for name, value in headers if name == b"x-forwarded-for"]
    if not values:
        return None
    if sum(len(v) for v in values) > MAX_FORWARDED_BYTES:
        return None
    hops = b",".join(values).split(b",")
    return hops if len(hops) <= MAX_FORWARDED_HOPS else None


def client_ip(scope: Scope, trusted_proxies: tuple[IpNetwork, ...]) -> IpAddress | None:
    """The client's address for a request: the peer, or what trusted proxies say it was."""
    client = scope.get("client")
    peer = _parse(client[0]) if client else None
    if peer is None or not trusted_proxies or not _trusted(peer, trusted_proxies):
        return peer
    hops = _forwarded_hops(scope.get("headers", ()))
    if hops is None:
        return peer
    addresses = [_parse(hop.decode("latin-1")) for hop in hops]
    if any(a is None for a in addresses):
        return peer  # garbage in the chain: believe none of it
    chain = [a for a in addresses if a is not None]
    for address in reversed(chain):
        if not _trusted(address, trusted_proxies):
            return address
    return chain[0]  # every hop is one of our proxies: the left-most is where it started


def coarse(address: IpAddress) -> str:
    """The address cut to its /24 (IPv4) or /48 (IPv6) network, e.g. ``203.0.113.0/24``."""
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
