"""The node's egress owner: loads the SNAT table once per change, and agrees with the
rules 1536 about where a secondary interface's pods may use their own interface."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network

from config import load_settings
from ipamd.dataplane import snat
from ipamd.egress import Egress

VPC = (IPv4Network("10.0.0.0/16"),)
EXCLUDED = "192.168.0.0/16"


def egress_in(netns: str, loads: list[snat.EgressSpec], **env: str) -> Egress:
    datapath = load_settings({"AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS": EXCLUDED, **env}).datapath

    def load(spec: snat.EgressSpec) -> None:
        snat.apply(spec, netns=netns)
        loads.append(spec)

    return Egress(
        datapath,
        primary_ip=IPv4Address("10.0.1.10"),
        primary_ifname="eth0",
        vpc_cidrs=VPC,
        load=load,
    )


def test_the_table_is_loaded_once_and_again_only_when_the_vpc_grows(netns: str):
    loads: list[snat.EgressSpec] = []
    egress = egress_in(netns, loads)
    assert egress.update() is True
    assert egress.update() is False and egress.update(VPC) is False
    found = snat.read_back(netns=netns)
    assert found is not None and found["sets"]["no_snat"] == ["10.0.0.0/16", EXCLUDED]

    grown = (*VPC, IPv4Network("100.64.0.0/16"))
    assert egress.update(grown) is True
    found = snat.read_back(netns=netns)
    assert found is not None
    assert found["sets"]["no_snat"] == ["10.0.0.0/16", "100.64.0.0/16", EXCLUDED]
    assert found == snat.canonical(snat.ruleset(replace(loads[0], vpc_cidrs=grown)))
    assert len(loads) == 2


def test_secondary_pods_use_their_interface_only_where_nothing_is_snated(netns: str):
    egress = egress_in(netns, [])
    egress.update()
    assert egress.secondary_destinations() == (
        IPv4Network("10.0.0.0/16"),
        IPv4Network(EXCLUDED),
    )


def test_external_snat_leaves_no_table_and_no_destination_limit(netns: str):
    loads: list[snat.EgressSpec] = []
    egress = egress_in(netns, loads, AWS_VPC_K8S_CNI_EXTERNALSNAT="true")
    assert egress.update() is True
    assert snat.read_back(netns=netns) is None
    assert egress.secondary_destinations() is None
