"""DEL without the daemon: tear down what ``prevResult`` names, spool the release, succeed.

A runtime must be able to delete a pod while vpc-ipamd is down or hung (DESIGN.md section
3), and containerd's second DEL comes with ``CNI_NETNS=""`` and no ``prevResult``. So:

1. The release is written to the spool (cni.spool): the attachment's key and the addresses
   ``prevResult`` names (none when there is no prevResult: the key is enough for the
   daemon, which drains the spool when it starts).
2. Each host-side interface ``prevResult`` names (an entry without ``sandbox``) whose name
   starts with the configured veth prefix is deleted, if it is a veth (cni.netlink).
   Deleting the host end removes the pod end and the pod's host route with it.

Both steps are idempotent, so a repeated DEL succeeds again. If either fails, DEL fails with
code 5 (I/O failure) and the runtime retries it.
"""

from __future__ import annotations

from cni import netlink, spool
from cni.env import interface_name_problem
from cni.errors import IO_FAILURE, CniError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cni.env import CniEnv
    from cni.netconf import NetConf
    from cni.pluginconf import PluginConf
    from cni.result import Result


def host_veths(prev: Result | None, prefix: str) -> list[str]:
    """Names of the host-side interfaces in ``prev`` that are ours to remove."""
    if prev is None:
        return []
    return [
        intf.name
        for intf in prev.interfaces
        if not intf.sandbox
        and intf.name.startswith(prefix)
        and interface_name_problem(intf.name) is None
    ]


def release_without_daemon(env: CniEnv, conf: NetConf, plugin: PluginConf, cause: CniError) -> str:
    """Do the fallback; return what was done (for the log line) or raise CniError code 5."""
    prev = conf.prev_result
    addresses = [str(ipc.address.ip) for ipc in prev.ips] if prev is not None else []
    done: list[str] = [f"vpc-ipamd unreachable ({cause.msg})"]
    failed: list[str] = []
    try:
        path = spool.write_release(
            plugin.spool_dir,
            network=conf.name,
            container_id=env.container_id,
            ifname=env.ifname,
            addresses=addresses,
        )
        done.append(f"release of [{', '.join(addresses)}] spooled to {path}")
    except OSError as exc:
        failed.append(f"cannot spool the release to {plugin.spool_dir}: {exc}")
    for name in host_veths(prev, plugin.veth_prefix):
        try:
            outcome = netlink.delete_veth(name)
        except OSError as exc:
            failed.append(f"cannot delete veth {name}: {exc}")
            continue
        if outcome in (netlink.DELETED, netlink.ABSENT):
            done.append(f"veth {name} {outcome}")
        else:
            done.append(f"{name} left alone: a {outcome} link, not a veth")
    if failed:
        raise CniError(
            IO_FAILURE,
            f"vpc-ipamd is not reachable at {plugin.socket_path} and DEL could not finish alone",
            "; ".join(failed + done),
        )
    return "; ".join(done)
