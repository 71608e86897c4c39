"""Where a webhook may be sent: no server-side request forgery into the hospital's own network.

A subscriber's URL is checked when it is saved (API and admin) and again right before every attempt:

- ``https`` only, unless ``WEBHOOK_REQUIRE_HTTPS`` is off (the default follows DEBUG: off on a laptop,
  on in production);
- the host is resolved, and EVERY address it resolves to must be public: loopback, private (RFC 1918,
  unique local, IPv6 site-local fec0::/10), link-local (169.254.0.0/16, the cloud metadata service), shared
  (100.64.0.0/10),
  reserved, multicast, unspecified addresses, and IPv6 forms that embed such an IPv4 address
  (IPv4-mapped ``::ffff:a.b.c.d``, 6to4 ``2002::/16``, Teredo, NAT64 ``64:ff9b::/96``) are refused;
- ``WEBHOOK_ALLOWED_HOSTS`` lists host names, IP addresses or networks (CIDR) that may be reached even
  though they are internal: for deployments that deliver inside the intranet on purpose.

The sender then connects to the very address that was checked (``pinned_connection``), sending the
host name in the Host header and in TLS SNI / certificate verification, so a DNS answer that changes
between the check and the connection (DNS rebinding) cannot redirect the delivery.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

NAT64 = ipaddress.ip_network("64:ff9b::/96")


class WebhookURLRefused(ValueError):
    """The URL may not receive webhooks; the message says why, naming the host or address."""


@dataclass(frozen=True)
class CheckedURL:
    scheme: str
    host: str  # as written in the URL (a name, or an IP literal without brackets)
    port: int
    path: str  # path and query, as sent in the request line
    addresses: tuple[str, ...]  # the checked addresses, in the resolver's order


def _allowed_entries() -> tuple[set[str], list]:
    names, networks = set(), []
    for entry in getattr(settings, "WEBHOOK_ALLOWED_HOSTS", []) or []:
        entry = str(entry).strip().lower().strip("[]")
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.add(entry.rstrip("."))
    return names, networks


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_problem(address: str) -> str | None:
    """Why ``address`` may not receive a webhook, or None when it is a public unicast address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            problem = address_problem(str(inner))
            return _("embeds %(inner)s, which %(problem)s") % {"inner": inner, "problem": problem} if problem else None
    for test, words in (
        ("is_unspecified", gettext_lazy("is the unspecified address")),
        ("is_loopback", gettext_lazy("is a loopback address")),
        ("is_link_local", gettext_lazy("is a link-local address (e.g. the cloud metadata service)")),
        ("is_multicast", gettext_lazy("is a multicast address")),
        ("is_private", gettext_lazy("is a private (internal network) address")),
        # fec0::/10, deprecated (RFC 3879) but still routed inside some networks; Python counts it as global.
        ("is_site_local", gettext_lazy("is a site-local (internal network) IPv6 address")),
        ("is_reserved", gettext_lazy("is a reserved address")),
    ):
        if getattr(ip, test, False):  # is_site_local exists on IPv6 addresses only
            return str(words)
    if not ip.is_global:
        return _("is not a public internet address")
    return None


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise WebhookURLRefused(
            _("the host %(host)s does not resolve (%(error)s); use a host name that does")
            % {"host": repr(host), "error": exc}
        ) from None
    addresses = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        if sockaddr[0] not in addresses:
            addresses.append(sockaddr[0])
    if not addresses:
        raise WebhookURLRefused(_("the host %(host)s resolves to no address") % {"host": repr(host)})
    return addresses


def check_webhook_url(url: str) -> CheckedURL:
    """Resolve ``url``'s host and check every address (see the module doc); raises WebhookURLRefused."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise WebhookURLRefused(_("not a valid URL: %(error)s") % {"error": exc}) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise WebhookURLRefused(_("use an https URL") if scheme else _("not a valid URL: it has no scheme"))
    if scheme == "http" and getattr(settings, "WEBHOOK_REQUIRE_HTTPS", True):
        raise WebhookURLRefused(_("use an https URL: plain http is refused in production (WEBHOOK_REQUIRE_HTTPS)"))
    if parts.username or parts.password:
        raise WebhookURLRefused(_("do not put credentials in the URL; deliveries are signed with the secret instead"))
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise WebhookURLRefused(_("the URL has no host"))
    port = port or (443 if scheme == "https" else 80)
    addresses = _resolve(host, port)
    names, networks = _allowed_entries()
    if host.lower() not in names:
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            if any(ip.version == net.version and ip in net for net in networks):
                continue
            problem = address_problem(address)
            if problem:
                shown = (
                    host
                    if host == address
                    else _("%(host)s resolves to %(address)s, which") % {"host": host, "address": address}
                )
                raise WebhookURLRefused(
                    _(
                        "refused: %(host)s %(problem)s; webhooks go to public addresses only (an intranet receiver "
                        "must be listed in WEBHOOK_ALLOWED_HOSTS)"
                    )
                    % {"host": shown, "problem": problem}
                )
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return CheckedURL(scheme=scheme, host=host, port=port, path=path, addresses=tuple(addresses))


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, checked: CheckedURL, address: str, timeout: float):
        super().__init__(checked.host, checked.port, timeout=timeout)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, checked: CheckedURL, address: str, timeout: float):
        super().__init__(checked.host, checked.port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        # SNI and certificate verification against the name, not the address we connected to.
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def pinned_connection(checked: CheckedURL, address: str, *, timeout: float) -> http.client.HTTPConnection:
    """A connection to ``address`` (one of ``checked.addresses``) that speaks to ``checked.host``.

    http.client puts ``host[:port]`` in the Host header and never follows redirects or proxies."""
    cls = _PinnedHTTPSConnection if checked.scheme == "https" else _PinnedHTTPConnection
    return cls(checked, address, timeout)
