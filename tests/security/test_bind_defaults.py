"""Introspection and metrics answer only on this host by default: the defaults are
loopback (or a private unix socket), and the servers built from them bind loopback."""

from __future__ import annotations

import ipaddress
import socket

from config import BindAddress, load_settings
from ipamd.introspect import IntrospectionServer
from ipamd.metrics_server import MetricsServer


def is_loopback(address: BindAddress) -> bool:
    if address.unix_path is not None:
        return True
    return ipaddress.ip_address(address.host).is_loopback


def test_the_default_settings_bind_introspection_and_metrics_to_loopback():
    daemon = load_settings({}).daemon
    assert is_loopback(daemon.introspection_bind_address), daemon.introspection_bind_address
    assert is_loopback(daemon.metrics_bind_address), daemon.metrics_bind_address


def test_servers_built_from_the_defaults_listen_on_loopback_only():
    daemon = load_settings({}).daemon
    introspection = daemon.introspection_bind_address
    metrics = daemon.metrics_bind_address
    # the default hosts, on a port of the kernel's choosing (the default ports may be taken)
    server = IntrospectionServer(BindAddress(host=introspection.host, port=0), {}).start()
    try:
        host = server._server.socket.getsockname()[0]
        assert ipaddress.ip_address(host).is_loopback, host
    finally:
        server.stop()
    scraper = MetricsServer(BindAddress(host=metrics.host, port=0), lambda: b"")
    try:
        bound = scraper._server.socket
        assert bound.family in (socket.AF_INET, socket.AF_INET6)
        assert ipaddress.ip_address(bound.getsockname()[0]).is_loopback
    finally:
        scraper.stop()
