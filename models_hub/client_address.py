"""The address of the client as this server can vouch for it (for counting, never for access decisions)."""

from __future__ import annotations

import functools
import ipaddress

from django.conf import settings
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=8)
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item) for item in trusted)


def _is_trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(request: HttpRequest) -> str:
    """REMOTE_ADDR, unless it is one of FLYWHEEL_TRUSTED_PROXIES: then the nearest X-Forwarded-For hop
    that is not a trusted proxy. Each proxy appends the address it saw, so hops are read from the right
    and whatever the client wrote itself (further left) is never reached."""
    remote = request.META.get("REMOTE_ADDR", "")
    networks = _networks(tuple(settings.FLYWHEEL_TRUSTED_PROXIES))
    if not networks or not _is_trusted(remote, networks):
        return remote
    nearest = remote
    for hop in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        hop = hop.strip()
        try:
            ipaddress.ip_address(hop)
        except ValueError:  # a proxy never writes this: keep the last address a trusted party gave
            return nearest
        if not _is_trusted(hop, networks):
            return hop
        nearest = hop
    return nearest
