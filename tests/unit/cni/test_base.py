from __future__ import annotations

import ipaddress

import pytest

from cni._base import is_valid_cni_name
from cni.result import DNS, IPConfig, Route


def test_records_are_read_only_after_construction() -> None:
    dns = DNS(["10.0.0.2"], domain="cluster.local")

    with pytest.raises(AttributeError):
        dns.domain = "other"
    with pytest.raises(AttributeError):
        del dns.domain
    assert dns.domain == "cluster.local"


def test_records_compare_and_hash_by_value() -> None:
    a = Route(ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_address("169.254.1.1"))
    b = Route(ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_address("169.254.1.1"))

    assert a == b
    assert hash(a) == hash(b)
    assert a != Route(ipaddress.ip_network("0.0.0.0/0"))
    assert a != "not a route"


def test_replace_returns_a_changed_copy_and_refuses_unknown_fields() -> None:
    ip = IPConfig(ipaddress.ip_interface("10.0.0.5/32"))

    moved = ip.replace(interface=1)

    assert moved.interface == 1
    assert ip.interface is None
    with pytest.raises(TypeError, match="no field"):
        ip.replace(iface=1)


def test_repr_names_the_type_and_every_field() -> None:
    assert repr(DNS(["10.0.0.2"])) == (
        "DNS(domain='', nameservers=('10.0.0.2',), options=(), search=())"
    )


@pytest.mark.parametrize(
    ("name", "valid"),
    [("a", True), ("a.b-c_d", True), ("", False), ("_a", False), ("a b", False), ("a\n", False)],
)
def test_cni_name_rule(name: str, valid: bool) -> None:
    assert is_valid_cni_name(name) is valid
