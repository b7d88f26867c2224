"""Egress: one nftables table of ours, loaded atomically as a single JSON batch.

Pod traffic to anything outside the VPC CIDRs and AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS leaves
SNATed to the node's primary address (``fully-random`` for RANDOMIZESNAT=prng, ``random``
for hashrandom, plain for none), as aws-node does with iptables. The connmark chain keeps the
return path symmetric: connections that arrive on the primary interface for a local address
(NodePort) are marked with AWS_VPC_K8S_CNI_CONNMARK, and replies from pods take the mark
back from conntrack, so the node's rule ``fwmark <mark>/<mark> lookup main`` (priority 1024)
sends them out the way they came. AWS_VPC_K8S_CNI_EXTERNALSNAT=true removes the table.

The batch starts with ``add table`` + ``flush table``, so loading it again (the VPC's CIDRs
changed, a setting changed) replaces the whole table in one transaction. nft is run with an
argv list and the JSON on stdin; nothing is built from shell strings.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from config import RandomizeSnat

FAMILY = "ip"
TABLE = "vpc_ipam"
NO_SNAT_SET = "no_snat"
SNAT_CHAIN = "snat"
CONNMARK_CHAIN = "connmark"
SRCNAT_PRIORITY = 100
MANGLE_PRIORITY = -150
NAT_FLAGS = {
    RandomizeSnat.PRNG: ["fully-random"],
    RandomizeSnat.HASHRANDOM: ["random"],
    RandomizeSnat.NONE: [],
}


class NftError(RuntimeError):
    """nft refused a batch or could not run."""


@dataclass(frozen=True, slots=True)
class EgressSpec:
    primary_ip: IPv4Address
    primary_ifname: str
    vpc_cidrs: tuple[IPv4Network, ...]
    exclude_cidrs: tuple[IPv4Network, ...] = ()
    randomize: RandomizeSnat = RandomizeSnat.PRNG
    connmark: int = 0x80
    external_snat: bool = False
    veth_prefix: str = "eni"


def _table() -> dict[str, Any]:
    return {"family": FAMILY, "name": TABLE}


def _rule(chain: str, *expr: dict[str, Any]) -> dict[str, Any]:
    return {"add": {"rule": {"family": FAMILY, "table": TABLE, "chain": chain, "expr": list(expr)}}}


def _iifname(op: str, name: str) -> dict[str, Any]:
    return {"match": {"op": op, "left": {"meta": {"key": "iifname"}}, "right": name}}


def _local(op: str) -> dict[str, Any]:
    fib = {"fib": {"flags": ["daddr"], "result": "type"}}
    return {"match": {"op": op, "left": fib, "right": "local"}}


def ruleset(spec: EgressSpec) -> dict[str, Any]:
    """The nft JSON batch that makes the table what ``spec`` asks for."""
    if spec.external_snat:
        return {"nftables": [{"add": {"table": _table()}}, {"delete": {"table": _table()}}]}
    pods = f"{spec.veth_prefix}*"
    exempt = sorted(set(spec.vpc_cidrs) | set(spec.exclude_cidrs))
    snat: dict[str, Any] = {"addr": str(spec.primary_ip)}
    if NAT_FLAGS[spec.randomize]:
        snat["flags"] = NAT_FLAGS[spec.randomize]
    ct_mark = {"ct": {"key": "mark"}}
    chain = {"family": FAMILY, "table": TABLE, "policy": "accept"}
    return {
        "nftables": [
            {"add": {"table": _table()}},
            {"flush": {"table": _table()}},
            {
                "add": {
                    "set": {
                        "family": FAMILY,
                        "table": TABLE,
                        "name": NO_SNAT_SET,
                        "type": "ipv4_addr",
                        "flags": ["interval"],
                        "elem": [
                            {"prefix": {"addr": str(n.network_address), "len": n.prefixlen}}
                            for n in exempt
                        ],
                    }
                }
            },
            {
                "add": {
                    "chain": {
                        **chain,
                        "name": SNAT_CHAIN,
                        "type": "nat",
                        "hook": "postrouting",
                        "prio": SRCNAT_PRIORITY,
                    }
                }
            },
            _rule(
                SNAT_CHAIN,
                _iifname("==", pods),
                {
                    "match": {
                        "op": "!=",
                        "left": {"payload": {"protocol": "ip", "field": "daddr"}},
                        "right": f"@{NO_SNAT_SET}",
                    }
                },
                _local("!="),
                {"snat": snat},
            ),
            {
                "add": {
                    "chain": {
                        **chain,
                        "name": CONNMARK_CHAIN,
                        "type": "filter",
                        "hook": "prerouting",
                        "prio": MANGLE_PRIORITY,
                    }
                }
            },
            _rule(
                CONNMARK_CHAIN,
                _iifname("==", spec.primary_ifname),
                _local("=="),
                {"mangle": {"key": ct_mark, "value": {"|": [ct_mark, spec.connmark]}}},
            ),
            _rule(
                CONNMARK_CHAIN,
                _iifname("==", pods),
                {
                    "mangle": {
                        "key": {"meta": {"key": "mark"}},
                        "value": {"&": [ct_mark, spec.connmark]},
                    }
                },
            ),
        ]
    }


def _nft(args: list[str], stdin: str | None, netns: str | None) -> str:
    argv = (["ip", "netns", "exec", netns] if netns else []) + ["nft", *args]
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    except OSError as error:
        raise NftError(f"cannot run nft: {error}") from error
    if done.returncode != 0:
        raise NftError(f"nft {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def apply(spec: EgressSpec, *, netns: str | None = None) -> None:
    """Load the table in one transaction (``netns``: a named namespace, for tests/sandbox)."""
    _nft(["-j", "-f", "-"], json.dumps(ruleset(spec)), netns)


def read_back(*, netns: str | None = None) -> dict[str, Any] | None:
    """The table as the kernel holds it, canonical (see ``canonical``); None if absent."""
    try:
        listed = _nft(["-j", "list", "table", FAMILY, TABLE], None, netns)
    except NftError as error:
        if "No such file or directory" in str(error):
            return None
        raise
    return canonical(json.loads(listed))


def canonical(batch: dict[str, Any]) -> dict[str, Any]:
    """Sets, chains and rules of our table, without handles and with nft's own shorthand
    (a one-item flags list printed as a string) undone, so a batch and a listing compare."""
    sets: dict[str, list[str]] = {}
    chains: dict[str, tuple[str, str, int]] = {}
    rules: dict[str, list[str]] = {}
    for item in batch["nftables"]:
        body = item.get("add", item)
        if "set" in body:
            elems = body["set"].get("elem", [])
            sets[body["set"]["name"]] = sorted(
                f"{e['prefix']['addr']}/{e['prefix']['len']}" for e in elems
            )
        elif "chain" in body:
            c = body["chain"]
            chains[c["name"]] = (c["type"], c["hook"], int(c["prio"]))
        elif "rule" in body:
            r = body["rule"]
            rules.setdefault(r["chain"], []).append(json.dumps(_unshort(r["expr"]), sort_keys=True))
    return {"sets": sets, "chains": chains, "rules": rules}


def _unshort(value: Any) -> Any:
    if isinstance(value, dict):
        out = {k: _unshort(v) for k, v in value.items()}
        if isinstance(out.get("flags"), str):
            out["flags"] = [out["flags"]]
        return out
    if isinstance(value, list):
        return [_unshort(v) for v in value]
    return value
