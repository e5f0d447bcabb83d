"""Where webhooks may go: the SSRF guard.

A subscription URL must be http(s) (plain http only when allowed by a setting), carry no credentials,
and every address its host resolves to must be a public one: private, loopback, link-local, multicast,
reserved and unspecified addresses are refused unless they fall in a network the operator allowed
(``RUJUKAN_WEBHOOK_ALLOWED_NETWORKS``, e.g. ``127.0.0.0/8`` for a local receiver). The check runs when a
subscription is set and again before every delivery (a name may resolve elsewhere later).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from rujukan.notifier.errors import UnsafeDestination

Resolver = Callable[[str, int], list[str]]
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Unresolvable(UnsafeDestination):
    """The webhook host does not resolve (now): refused when setting, retried when delivering."""


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise Unresolvable(f"the host {host} does not resolve") from exc
    return sorted({str(info[4][0]) for info in infos})


def check_destination(
    url: str,
    *,
    allowed_networks: Sequence[str | IpNetwork] = (),
    allow_http: bool = False,
    resolver: Resolver = resolve,
) -> None:
    """Raise UnsafeDestination unless ``url`` may receive webhooks."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or (parts.scheme == "http" and not allow_http):
        raise UnsafeDestination("webhook URLs must use https" + ("" if not allow_http else " or http"))
    if parts.username or parts.password:
        raise UnsafeDestination("webhook URLs must not carry credentials; the signature authenticates Rujukan")
    if not parts.hostname:
        raise UnsafeDestination("the webhook URL has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeDestination("the webhook URL has an invalid port") from exc
    networks: list[IpNetwork] = [ipaddress.ip_network(n, strict=False) for n in allowed_networks]
    for address in resolver(parts.hostname, port):
        ip = ipaddress.ip_address(address.split("%")[0])
        if _public(ip) or any(ip in network for network in networks):
            continue
        raise UnsafeDestination(
            f"the host {parts.hostname} resolves to a non-public address; allow its network with "
            "RUJUKAN_WEBHOOK_ALLOWED_NETWORKS if that is intended"
        )


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return _public(ip.ipv4_mapped)
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )
