"""vpc-cni's commands: ADD, DEL, CHECK, GC and STATUS, each one request to vpc-ipamd.

The binary validates its input (environment first, then configuration), asks the daemon and
prints what it answers. Results come from the daemon in the 1.1.0 shape and are re-emitted
at the configuration's ``cniVersion``; the daemon's errors are raised unchanged.

Per command:

- ADD sends the pod's identity from ``CNI_ARGS`` (K8S_POD_NAMESPACE, K8S_POD_NAME,
  K8S_POD_UID). Chained after another plugin (a ``prevResult`` in the configuration), the
  result is the previous one with ours appended, so plugins after us see everything.
- DEL sends ``prevResult`` (re-emitted at the configuration's version). If the daemon cannot
  be reached, DEL still succeeds: see cni.delfallback.
- CHECK needs ``prevResult`` (code 7 without one).
- GC sends ``cni.dev/valid-attachments``; STATUS answers 50 (plugin not available) when the
  daemon cannot be reached.
"""

from __future__ import annotations

from cni import client
from cni.errors import (
    INTERNAL,
    INVALID_NETWORK_CONFIG,
    PLUGIN_NOT_AVAILABLE,
    TRY_AGAIN_LATER,
    CniError,
)
from cni.messages import GcArgs, PodArgs, StatusArgs
from cni.netconf import decode_json_object, netconf_from_json
from cni.pluginconf import parse_plugin_conf
from cni.result import IPConfig, Result
from cni.versions import LATEST_VERSION, check_command
from cni.wire import encode_request

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cni.env import CniEnv
    from cni.messages import Args
    from cni.netconf import NetConf
    from cni.pluginconf import PluginConf

POD_NAMESPACE, POD_NAME, POD_UID = "K8S_POD_NAMESPACE", "K8S_POD_NAME", "K8S_POD_UID"
DAEMON_RESULT_VERSION = LATEST_VERSION  # the shape ipamd's add answers in


def run(env: CniEnv, stdin: bytes) -> tuple[dict[str, object] | None, str]:
    """Everything but VERSION: (what to print or None, a note for the log line)."""
    conf = netconf_from_json(
        decode_json_object(stdin, "network configuration"),
        ignore_bad_prev_result=env.command == "DEL",
    )
    check_command(env.command, conf.cni_version)
    plugin = parse_plugin_conf(conf.extra)
    if env.command == "ADD":
        return add(env, conf, plugin), ""
    if env.command == "DEL":
        return None, delete(env, conf, plugin)
    if env.command == "CHECK":
        if conf.prev_result is None:
            raise CniError(
                INVALID_NETWORK_CONFIG,
                "invalid network configuration: CHECK needs prevResult",
                "prevResult: missing (the runtime passes the cached result of ADD)",
            )
        ask(plugin, "check", pod_args(env, conf))
        return None, ""
    if env.command == "GC":
        ask(plugin, "gc", GcArgs(network=conf.name, valid_attachments=conf.valid_attachments))
        return None, ""
    if env.command == "STATUS":
        try:
            ask(plugin, "status", StatusArgs(network=conf.name))
        except CniError as error:
            if not daemon_unreachable(error):
                raise
            raise CniError(
                PLUGIN_NOT_AVAILABLE,
                f"vpc-ipamd is not reachable at {plugin.socket_path}",
                str(error),
            ) from None
        return None, ""
    raise AssertionError(f"unhandled command {env.command}")  # cni.env refuses others


def add(env: CniEnv, conf: NetConf, plugin: PluginConf) -> dict[str, object]:
    reply = ask(plugin, "add", pod_args(env, conf))
    ours = Result.from_json(reply, default_version=DAEMON_RESULT_VERSION)
    if conf.prev_result is not None:
        ours = chain(conf.prev_result, ours)
    return ours.to_json(conf.cni_version)


def delete(env: CniEnv, conf: NetConf, plugin: PluginConf) -> str:
    try:
        ask(plugin, "del", pod_args(env, conf))
    except CniError as error:
        if not daemon_unreachable(error):
            raise
        from cni.delfallback import release_without_daemon  # noqa: PLC0415 (rarely needed)

        return release_without_daemon(env, conf, plugin, error)
    return ""


def ask(plugin: PluginConf, op: str, args: Args) -> dict[str, object]:
    request = client.new_request(op, args, timeout=plugin.timeout)
    try:
        data = encode_request(request)  # here: an oversized request is the input's fault
    except CniError as error:
        if error.code != INTERNAL:
            raise
        if isinstance(args, PodArgs) and op == "del" and args.prev_result is not None:
            # DEL is best effort and the daemon knows the attachment by its key
            return ask(plugin, op, args.replace(prev_result=None))
        raise CniError(
            INVALID_NETWORK_CONFIG,
            f"invalid network configuration: too large to send to vpc-ipamd ({op})",
            str(error),
        ) from None
    return client.call(plugin.socket_path, request, timeout=plugin.timeout, data=data)


def pod_args(env: CniEnv, conf: NetConf) -> PodArgs:
    """add/del/check arguments; ``prevResult`` is sent at the configuration's version."""
    namespace, name, uid = pod_identity(env)
    prev = conf.prev_result
    return PodArgs(
        network=conf.name,
        container_id=env.container_id,
        ifname=env.ifname,
        netns=env.netns,
        pod_namespace=namespace,
        pod_name=name,
        pod_uid=uid,
        prev_result=None
        if prev is None or env.command == "ADD"
        else prev.to_json(conf.cni_version),
    )


def pod_identity(env: CniEnv) -> tuple[str, str, str]:
    """(namespace, name, uid) of the pod from CNI_ARGS; "" for each one not given."""
    return (
        env.arg(POD_NAMESPACE) or "",
        env.arg(POD_NAME) or "",
        env.arg(POD_UID) or "",
    )


def chain(prev: Result, ours: Result) -> Result:
    """The result a chained ADD returns: ``prev`` with ours appended (our ``ips`` keep
    pointing at our interfaces); our DNS wins when we have any."""
    shift = len(prev.interfaces)
    ips = [
        ipc
        if ipc.interface is None
        else IPConfig(ipc.address, ipc.gateway, interface=ipc.interface + shift)
        for ipc in ours.ips
    ]
    return Result(
        interfaces=prev.interfaces + ours.interfaces,
        ips=prev.ips + tuple(ips),
        routes=prev.routes + ours.routes,
        dns=prev.dns if ours.dns.is_empty() else ours.dns,
    )


# The errors cni.client raises itself, when no reply came from the daemon. (A reply's error
# is the daemon's own, e.g. "vpc-ipamd is busy", and passes through unchanged.)
_CLIENT_SIDE = (
    "vpc-ipamd is not reachable at ",  # connect failed: no socket, refused, no permission
    "vpc-ipamd at ",  # "... is overloaded (its listen queue is full)"
    "vpc-ipamd did not answer within ",
    "vpc-ipamd closed the connection without replying",
)


def daemon_unreachable(error: CniError) -> bool:
    """True when ``error`` says the daemon never answered (rather than answered no)."""
    return error.code == TRY_AGAIN_LATER and error.msg.startswith(_CLIENT_SIDE)
