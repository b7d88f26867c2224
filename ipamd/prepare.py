"""``vpc-ipamd --prepare-node``: the one-shot init step that readies a node for the daemon.

Container runtimes mount ``/proc/sys`` read-only in every container that is not privileged,
and the daemon's container is deliberately not (NET_ADMIN and SYS_ADMIN only). So the two
kernel settings the datapath needs are set here, by an init container that is privileged
and does nothing else (``deploy/daemonset.yaml``, ``vpc-ipam-init``), and the daemon later
finds them right and writes nothing (``NodeDataplane._sysctl`` writes only what differs):

- ``net.ipv4.ip_forward=1``: pods' traffic is routed through the node.
- ``net.ipv4.conf.<if>.rp_filter=2`` (loose) on each interface that carries an IPv4 default
  route in the main table: a connection that arrives there and is DNATed to a pod of a
  secondary interface (NodePort) is checked against the way back to its sender, which the
  pod's rules 1536 send out of that secondary interface; strict filtering would drop it.
  (Its replies still leave by the primary: rule 1024 and the connmark, ``snat.py``.)

Then, with ``VPC_IPAM_INSTALL_CNI=true`` (as the DaemonSet sets it for both containers), it
installs the CNI plugin into the bin directory (:func:`ipamd.installer.build_plugin`: package
directory, then an atomic swap of the launcher). The same switch as the daemon's, so one
setting says whether this project writes to the node's CNI directories, and
``VPC_IPAM_CNI_BIN_DIR`` means the same to both. Not the conflist: the daemon writes that
once it answers health, since a node turns Ready when its conflist appears.

**Why the default route, not the cloud's metadata service.** The primary interface is the
one the node's default route leaves by: the primary ENI on EKS (secondary ENIs are attached
later, by the daemon, and get routes only in their own tables), ``eth0``/``ens4`` on GKE.
Reading it over netlink in the current namespace makes no cloud call at init (no metadata
hop limit, no credentials, no wait for IMDS), works the same on both clouds, and names the
kernel's interface directly rather than a MAC to look up. A node with several default routes
gets loose filtering on each; that is only ever looser, never wrong.

**Secondary interfaces keep the distribution's rp_filter** (strict on Amazon Linux), and
``net.ipv4.conf.default`` is not touched. Everything that legitimately arrives on a secondary
ENI is addressed to that ENI's own address or to one of its pods, and the reverse-path lookup
(``from <that address> to <the sender>``) hits that ENI's table through a rule 1536: the
ENI's ``from <its address>`` rule; for a pod, ``to <VPC CIDR or SNAT exclusion>`` with SNAT
on and every destination with external SNAT (``ipamd/dataplane/pod.py``). So strict
filtering passes it. What would fail it, a sender outside those CIDRs reaching a pod of a
secondary ENI while SNAT is on, has no working return path anyway: the reply would take the
main table out of the primary ENI with the secondary's address, and the VPC's source/
destination check drops that. Loosening would only let the first packet in. (On a new node
the secondary ENIs do not even exist yet when this runs.) The kernel applies the larger of
``conf.all`` and ``conf.<if>``, so ``2`` on the primary is loose even where ``all`` is 1.

Every sysctl is read first and written only when it differs; each change prints one line on
stdout, so a second run prints nothing. Failure raises :class:`PrepareFailed`, which says
which setting and why (``vpc-ipamd`` exits 3); nothing is written before the primary
interfaces are known.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from config import Settings
from ipamd.dataplane.node import MAIN_TABLE, RP_FILTER_LOOSE
from ipamd.dataplane.nsfd import netlink
from ipamd.installer import PLUGIN_NAME, build_plugin

SYSCTL_ROOT = Path("/proc/sys")
AF_INET = 2
RTN_UNICAST = 1
IP_FORWARD_ON = 1


class PrepareFailed(RuntimeError):
    """The node could not be prepared; the message says what and why."""


@dataclass(frozen=True, slots=True)
class Sysctl:
    """One setting: its path under /proc/sys (an interface name may hold a dot), the value
    the daemon needs, and why it needs it."""

    path: tuple[str, ...]
    value: int
    why: str

    @property
    def name(self) -> str:
        return ".".join(self.path)


def default_route_interfaces() -> list[str]:
    """Names of the links the IPv4 default routes of the main table leave by (each hop of
    a multipath route), in this process's network namespace. Blackhole and unreachable
    defaults have no link and are skipped."""
    try:
        with netlink(None) as ipr:
            indexes: list[int] = []
            for route in ipr.get_routes(family=AF_INET):
                if (
                    route.get("table") != MAIN_TABLE
                    or route["dst_len"] != 0
                    or route["type"] != RTN_UNICAST
                ):
                    continue
                hops = route.get("multipath") or [{"oif": route.get("oif")}]
                indexes += [hop["oif"] for hop in hops if hop.get("oif")]
            names = [str(ipr.get_links(index)[0].get("ifname")) for index in dict.fromkeys(indexes)]
    except OSError as error:
        raise PrepareFailed(
            f"cannot read the routes of this network namespace over netlink: {error}"
        ) from error
    return names


def wanted_sysctls(interfaces: Sequence[str]) -> list[Sysctl]:
    return [
        Sysctl(
            ("net", "ipv4", "ip_forward"),
            IP_FORWARD_ON,
            "the node routes its pods' traffic",
        ),
        *(
            Sysctl(
                ("net", "ipv4", "conf", name, "rp_filter"),
                RP_FILTER_LOOSE,
                f"NodePort traffic for pods of secondary interfaces arrives on {name} "
                "while the way back to its sender leaves by another interface",
            )
            for name in interfaces
        ),
    ]


def _why_not(error: OSError) -> str:
    if error.errno == errno.EROFS:
        return (
            "/proc/sys is read-only in this container; run --prepare-node in a privileged "
            "container (the DaemonSet's init container vpc-ipam-init)"
        )
    if error.errno in (errno.EACCES, errno.EPERM):
        return "permission denied; run --prepare-node as root in a privileged container"
    if error.errno == errno.ENOENT:
        return "no such setting (did the interface go away?)"
    return error.strerror or str(error)


def _read(file: Path, sysctl: Sysctl) -> str:
    try:
        return file.read_text().strip()
    except OSError as error:
        raise PrepareFailed(f"cannot read {sysctl.name}: {_why_not(error)}") from error


def apply_sysctl(sysctl: Sysctl, root: Path = SYSCTL_ROOT) -> str | None:
    """Set ``sysctl`` unless it already holds its value; returns the old value when it was
    changed, None when it was already right."""
    file = root.joinpath(*sysctl.path)
    old = _read(file, sysctl)
    wanted = str(sysctl.value)
    if old == wanted:
        return None
    try:
        file.write_text(f"{wanted}\n")
    except OSError as error:
        raise PrepareFailed(
            f"cannot set {sysctl.name}={wanted} (it is {old}; needed because {sysctl.why}): "
            f"{_why_not(error)}"
        ) from error
    now = _read(file, sysctl)
    if now != wanted:
        raise PrepareFailed(
            f"{sysctl.name} is still {now} after writing {wanted} (needed because {sysctl.why})"
        )
    return old


def _plugin_state(target: Path) -> tuple[bytes | None, int | None, list[str]]:
    """What an install would change: the launcher's bytes and mode, the package dirs."""
    try:
        launcher: bytes | None = target.read_bytes()
        mode: int | None = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        launcher, mode = None, None
    libs = sorted(p.name for p in target.parent.glob(f".{target.name}-lib-*"))
    return launcher, mode, libs


def install_plugin(bin_dir: Path) -> Path | None:
    """Install (or refresh) ``<bin_dir>/vpc-cni``; returns its package directory when
    anything changed, None when this version was already installed as it is."""
    target = bin_dir / PLUGIN_NAME
    try:
        before = _plugin_state(target)
        lib = build_plugin(target)
        changed = _plugin_state(target) != before
    except OSError as error:
        raise PrepareFailed(f"cannot install the CNI plugin into {bin_dir}: {error}") from error
    return lib if changed else None


def prepare_node(
    settings: Settings,
    *,
    report: Callable[[str], None],
    interfaces: Callable[[], list[str]] = default_route_interfaces,
    sysctl_root: Path = SYSCTL_ROOT,
) -> int:
    """Prepare this network namespace's node for the daemon; ``report`` gets one line per
    change. Returns the number of changes; raises :class:`PrepareFailed`."""
    primary = interfaces()
    if not primary:
        raise PrepareFailed(
            "no IPv4 default route in the main routing table of this network namespace, so "
            "no primary interface to set rp_filter=2 on; run --prepare-node in the node's own "
            "network namespace (hostNetwork: true) once its network is up"
        )
    changes = 0
    for sysctl in wanted_sysctls(primary):
        old = apply_sysctl(sysctl, sysctl_root)
        if old is not None:
            report(f"set {sysctl.name}={sysctl.value} (was {old})")
            changes += 1
    if settings.daemon.install_cni:
        bin_dir = settings.cni.bin_dir
        lib = install_plugin(bin_dir)
        if lib is not None:
            report(f"installed {bin_dir / PLUGIN_NAME} (package {lib.name})")
            changes += 1
    return changes
