"""Where the server may connect when a caller decides the destination (a domain's mail servers, a
webhook URL): only to globally routable addresses, unless the operator allows private networks.

Checked on each address after resolution, so a name that resolves to loopback, RFC 1918, link-local
(cloud metadata at 169.254.169.254), unique-local IPv6, 0.0.0.0 or an IPv4 address wrapped in IPv6
(mapped, 6to4, Teredo, NAT64) is refused whatever the name looks like.
"""

from __future__ import annotations

import ipaddress

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo's client, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(address: str) -> bool:
    """Whether ``address`` (an IP literal) is globally routable unicast: what the internet can reach."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None:
            return is_public(str(inner))
    return bool(ip.is_global) and not ip.is_multicast and not ip.is_unspecified


def refusal(host: str, address: str, setting: str) -> str:
    """Why a connection to ``address`` (``host``'s) was not made, in words an operator can act on."""
    return (
        f"{host} resolves to {address}, which is not a public address: not contacted "
        f"(LEADSMITH_{setting}=true allows private networks)"
    )
