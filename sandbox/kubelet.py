"""Kubelet: what kubelet and its container runtime do to a CNI plugin, for sandbox nodes.

A sandbox node is a network namespace with vpc-ipamd running inside it. To give it pods, this
module plays kubelet + containerd: it makes each pod's network namespace, execs the vpc-cni
binary inside the node's namespace with the ``CNI_*`` variables and the network configuration
on stdin (as libcni does), and reads the result or the error object from stdout. Deleting a
pod follows containerd: DEL with prevResult and the netns, remove the netns, then a second DEL
with ``CNI_NETNS=""`` and no prevResult. A failed ADD is torn down as containerd does too:
one DEL (no prevResult) while the netns still exists, then the netns goes.

With a Kubernetes API emulator (``kube``) it also plays the API server's other clients, in
the order a real cluster shows them to a node agent: ``run_pod`` creates the pod object
(Pending, bound to this node, no IP) unless ``schedule_pod`` made it earlier, calls ADD with
the object's uid in ``CNI_ARGS``, then sets the pod's IP and phase Running; ``delete_pod``
marks the object terminating, calls DEL, and deletes the object. A failed ADD deletes the
object too (a kubelet would retry with a new sandbox; this one gives up). ``lose_pod`` is
what a missed DEL leaves behind: the object and the netns go, the plugin is never called.
Without ``kube`` nothing of that happens and every pod gets a fresh random uid.

Owned here: the pod namespaces this kubelet creates (named ``<pod_prefix>-<random>``, so
that a leak is easy to find), the plugin invocations, and (with ``kube``) the pod objects
of its node it created. Not owned: the node namespace, the daemon, the plugin binary, the
emulator; the plugin runs with a minimal environment (PATH and ``CNI_*``).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import secrets
import subprocess
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sandbox.portal import NETNS_DIR, netns_path

if TYPE_CHECKING:
    from sandbox.kube import KubeEmulator

log = logging.getLogger(__name__)

CNI_PATH = "/opt/cni/bin"
IFNAME = "eth0"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MAX_NETNS_NAME = 40
NETNS_SUFFIX_HEX = 10
NO_ERROR_OBJECT = -1
"""``CniFailed.code`` when the plugin gave no error object: it timed out, could not be run,
printed something other than JSON, or succeeded with an unusable result."""
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")


@dataclass(frozen=True)
class Pod:
    """A pod this kubelet ran (or one a test describes by hand, e.g. for DEL alone)."""

    name: str
    namespace: str
    container_id: str
    netns: str
    """The pod's network namespace, a name under /var/run/netns."""
    address: str
    result: dict[str, Any]
    """The ADD result; sent back as prevResult with DEL and CHECK."""
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def netns_path(self) -> str:
        return str(NETNS_DIR / self.netns)


class CniFailed(Exception):
    """A plugin invocation failed. ``code``/``msg``/``details`` are the plugin's error object
    (``code`` is ``NO_ERROR_OBJECT`` when it printed none); ``command`` is ADD, DEL or CHECK."""

    def __init__(
        self,
        command: str,
        code: int,
        msg: str,
        details: str = "",
        *,
        stdout: str = "",
        stderr: str = "",
        container_id: str = "",
    ) -> None:
        self.command = command
        self.code = code
        self.msg = msg
        self.details = details
        self.stdout = stdout
        self.stderr = stderr
        self.container_id = container_id
        text = f"CNI {command} of container {container_id[:12] or '?'} failed"
        text += f" (code {code}): {msg}" if code != NO_ERROR_OBJECT else f": {msg}"
        if details:
            text += f"; {details}"
        if stderr.strip():
            text += f"; stderr: {stderr.strip()[-2000:]}"
        super().__init__(text)


class Kubelet:
    """Runs pods on one sandbox node through the CNI plugin. ``conf`` is the network
    configuration libcni hands the plugin; ``plugin`` the plugin's argv, run inside
    ``node_ns`` (``ip netns exec``); ``timeout`` bounds each invocation. Several ``run_pod``
    calls may run at once from different threads. ``kube`` (with ``node_name``, the Node
    the pods are bound to): keep pod objects in that API server around the CNI calls."""

    def __init__(
        self,
        node_ns: str,
        conf: Mapping[str, Any],
        *,
        plugin: Sequence[str],
        pod_prefix: str,
        timeout: float = 60.0,
        kube: KubeEmulator | None = None,
        node_name: str | None = None,
    ) -> None:
        netns_path(node_ns)  # fails early: a missing namespace, or the host's own
        if not plugin:
            raise ValueError("plugin: the argv of the CNI plugin, e.g. [.../vpc-cni]")
        if not _NAME.fullmatch(pod_prefix):
            raise ValueError(
                f"pod_prefix {pod_prefix!r}: letters, digits, '_', '.' or '-', "
                "starting with a letter or digit"
            )
        if len(pod_prefix) + 1 + NETNS_SUFFIX_HEX > MAX_NETNS_NAME:
            longest = MAX_NETNS_NAME - 1 - NETNS_SUFFIX_HEX
            raise ValueError(f"pod_prefix {pod_prefix!r} is longer than {longest} characters")
        if "prevResult" in conf:
            raise ValueError("conf must not carry prevResult: DEL and CHECK add the pod's own")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if kube is not None and not node_name:
            raise ValueError("node_name: the Node the pods are bound to (with kube)")
        self.kube = kube
        self.node_name = node_name or ""
        self.node_ns = node_ns
        self.plugin = tuple(plugin)
        self.pod_prefix = pod_prefix
        self.timeout = timeout
        self._conf = json.loads(json.dumps(dict(conf)))  # a deep copy; must be JSON anyway
        self._lock = threading.Lock()
        self._pods: dict[str, Pod] = {}
        self._scheduled: dict[tuple[str, str], str] = {}
        """(namespace, name) -> uid of pod objects ``schedule_pod`` made, not yet run."""

    @property
    def conf(self) -> dict[str, Any]:
        """A copy of the network configuration."""
        return json.loads(json.dumps(self._conf))  # type: ignore[no-any-return]

    def schedule_pod(self, name: str, namespace: str = "default") -> dict[str, Any]:
        """(kube) The pod object the scheduler leaves for this node's kubelet: Pending,
        bound to the node, no IP; nothing runs yet (demand a daemon may prepare for).
        ``run_pod`` with the same name and namespace starts it. Returns the object."""
        kube = self._kube()
        made = kube.add_pod(namespace, name, self.node_name, ip=None, phase="Pending")
        with self._lock:
            self._scheduled[(namespace, name)] = str(made["metadata"]["uid"])
        return made

    def run_pod(self, name: str, namespace: str = "default") -> Pod:
        """Creates the pod's netns (``lo`` up) and calls ADD. On failure the netns is gone
        again (after one DEL, as containerd tears down) and ``CniFailed`` is raised.
        With ``kube``: the pod object first (Pending, unless ``schedule_pod`` made it), its
        IP and phase Running after a successful ADD; a failed ADD deletes it."""
        container_id = secrets.token_hex(32)
        uid = self._pod_object(name, namespace)
        netns = f"{self.pod_prefix}-{secrets.token_hex(NETNS_SUFFIX_HEX // 2)}"
        try:
            _ip("netns", "add", netns)
            try:
                _ip("-n", netns, "link", "set", "lo", "up")
                pod = Pod(name, namespace, container_id, netns, "", {}, uid)
                try:
                    result = self._invoke("ADD", pod, pod.netns_path, self._conf) or {}
                    address = _address_of(result, container_id)
                except CniFailed:
                    self._teardown_failed_add(pod)
                    raise
            except BaseException:
                _remove_netns(netns, quiet=True)
                raise
        except BaseException:
            self._delete_object(namespace, name, quiet=True)
            raise
        pod = Pod(name, namespace, container_id, netns, address, result, uid)
        with self._lock:
            self._pods[container_id] = pod
        if self.kube is not None:
            self.kube.update_pod(namespace, name, ip=address, phase="Running")
        return pod

    def lose_pod(self, pod: Pod) -> None:
        """What a missed DEL leaves behind: the pod object (with ``kube``) and the pod's netns
        (with its end of the veth) are removed, and the plugin is not called; the daemon
        still holds the address and the host's routes and rules until it notices."""
        with self._lock:
            self._pods.pop(pod.container_id, None)
        self._delete_object(pod.namespace, pod.name)
        _remove_netns(pod.netns)

    def check_pod(self, pod: Pod) -> None:
        """CHECK with the ADD result as prevResult; raises ``CniFailed``."""
        self._invoke("CHECK", pod, pod.netns_path, {**self._conf, "prevResult": pod.result})

    def delete_pod(self, pod: Pod) -> None:
        """DEL with prevResult and the netns, removes the netns, then DEL again with
        ``CNI_NETNS=""`` and no prevResult (containerd's order). Raises ``CniFailed`` if either
        DEL fails; after a failed first DEL the netns is left for a retry. With ``kube`` the
        pod object is marked terminating first and deleted last (an object already gone is
        fine)."""
        if self.kube is not None:
            kube = self.kube
            _unless_gone(lambda: kube.update_pod(pod.namespace, pod.name, terminating=True))
        self._invoke("DEL", pod, pod.netns_path, {**self._conf, "prevResult": pod.result})
        _remove_netns(pod.netns)
        self._invoke("DEL", pod, "", self._conf)
        self._delete_object(pod.namespace, pod.name)
        with self._lock:
            self._pods.pop(pod.container_id, None)

    def pods(self) -> list[Pod]:
        """The pods run here and not yet deleted, oldest first."""
        with self._lock:
            return list(self._pods.values())

    def scheduled(self) -> list[tuple[str, str]]:
        """(namespace, name) of the pods ``schedule_pod`` made and ``run_pod`` did not run."""
        with self._lock:
            return list(self._scheduled)

    def delete_all(self) -> None:
        """Deletes every pod of this kubelet, best effort: failures are logged, and each pod's
        netns (and object) is removed even when its DEL failed; with ``kube`` also the objects
        of scheduled pods never run. Never raises."""
        for pod in self.pods():
            try:
                self.delete_pod(pod)
            except Exception as e:
                log.warning("kubelet %s: deleting pod %s/%s: %s", self.node_ns, *_ref(pod), e)
                try:
                    _remove_netns(pod.netns)
                except Exception as gone:
                    log.warning("kubelet %s: %s", self.node_ns, gone)
                self._delete_object(pod.namespace, pod.name, quiet=True)
            with self._lock:
                self._pods.pop(pod.container_id, None)
        with self._lock:
            scheduled, self._scheduled = list(self._scheduled), {}
        for namespace, name in scheduled:
            self._delete_object(namespace, name, quiet=True)

    def __enter__(self) -> Kubelet:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.delete_all()

    def _kube(self) -> KubeEmulator:
        if self.kube is None:
            raise RuntimeError("this kubelet has no Kubernetes API emulator (kube=...)")
        return self.kube

    def _pod_object(self, name: str, namespace: str) -> str:
        """The uid of the pod's object: the scheduled one, else a new Pending one (kube);
        without kube, a fresh random uid."""
        if self.kube is None:
            return str(uuid.uuid4())
        with self._lock:
            uid = self._scheduled.pop((namespace, name), None)
        if uid is not None:
            return uid
        made = self.kube.add_pod(namespace, name, self.node_name, ip=None, phase="Pending")
        return str(made["metadata"]["uid"])

    def _delete_object(self, namespace: str, name: str, *, quiet: bool = False) -> None:
        """Deletes the pod's object (kube); one already gone is fine. ``quiet``: log any
        other failure instead of raising (teardown)."""
        kube = self.kube
        if kube is None:
            return
        try:
            _unless_gone(lambda: kube.delete_pod(namespace, name))
        except Exception:
            if not quiet:
                raise
            log.warning("kubelet %s: deleting pod object %s/%s", self.node_ns, namespace, name)

    def _teardown_failed_add(self, pod: Pod) -> None:
        try:
            self._invoke("DEL", pod, pod.netns_path, self._conf)
        except CniFailed as e:
            log.warning("kubelet %s: DEL after a failed ADD: %s", self.node_ns, e)

    def _cni_args(self, pod: Pod) -> str:
        return ";".join(
            [
                "IgnoreUnknown=1",
                f"K8S_POD_NAMESPACE={pod.namespace}",
                f"K8S_POD_NAME={pod.name}",
                f"K8S_POD_INFRA_CONTAINER_ID={pod.container_id}",
                f"K8S_POD_UID={pod.uid}",
            ]
        )

    def _invoke(
        self, command: str, pod: Pod, netns: str, conf: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """Runs the plugin once; returns what it printed (None: nothing) or raises."""
        env = {
            "PATH": DEFAULT_PATH,
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": pod.container_id,
            "CNI_NETNS": netns,
            "CNI_IFNAME": IFNAME,
            "CNI_ARGS": self._cni_args(pod),
            "CNI_PATH": CNI_PATH,
        }
        argv = ["ip", "netns", "exec", self.node_ns, *self.plugin]

        def failed(msg: str, details: str = "", stdout: str = "", stderr: str = "") -> CniFailed:
            return CniFailed(
                command,
                NO_ERROR_OBJECT,
                msg,
                details,
                stdout=stdout,
                stderr=stderr,
                container_id=pod.container_id,
            )

        try:
            done = subprocess.run(
                argv,
                input=json.dumps(conf).encode(),
                env=env,
                capture_output=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as e:
            raise failed(
                f"the plugin did not finish within {self.timeout:g}s",
                stdout=_text(e.stdout),
                stderr=_text(e.stderr),
            ) from None
        except OSError as e:
            raise failed(f"cannot run {argv[0]}: {e}") from None
        stdout, stderr = _text(done.stdout), _text(done.stderr)
        output: Any = None
        if stdout.strip():
            try:
                output = json.loads(stdout)
            except ValueError:
                raise failed(
                    f"the plugin printed something other than JSON (exit {done.returncode})",
                    stdout[:2000],
                    stdout,
                    stderr,
                ) from None
        if done.returncode != 0:
            if (
                isinstance(output, dict)
                and isinstance(output.get("code"), int)
                and isinstance(output.get("msg"), str)
            ):
                raise CniFailed(
                    command,
                    output["code"],
                    output["msg"],
                    str(output.get("details") or ""),
                    stdout=stdout,
                    stderr=stderr,
                    container_id=pod.container_id,
                )
            raise failed(
                f"the plugin exited with {done.returncode} without an error object",
                stdout=stdout,
                stderr=stderr,
            )
        if output is not None and not isinstance(output, dict):
            raise failed("the plugin printed JSON that is not an object", stdout[:2000], stdout)
        return output


def _address_of(result: dict[str, Any], container_id: str) -> str:
    """The pod's address: the first of the result's ``ips``, without its prefix length."""
    try:
        return str(ipaddress.ip_interface(result["ips"][0]["address"]).ip)
    except (LookupError, TypeError, ValueError):
        raise CniFailed(
            "ADD",
            NO_ERROR_OBJECT,
            "the ADD result names no IP address",
            json.dumps(result)[:2000],
            container_id=container_id,
        ) from None


def _unless_gone(action: Callable[[], object]) -> None:
    """Runs an API call on a pod object; the object being gone (404) is not an error."""
    from sandbox.kube.objects import ApiError  # noqa: PLC0415 (only with kube: loaded then)

    try:
        action()
    except ApiError as error:
        if error.code != 404:
            raise


def _ref(pod: Pod) -> tuple[str, str]:
    return pod.namespace, pod.name


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode(errors="replace")


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")


def _remove_netns(name: str, *, quiet: bool = False) -> None:
    """Removes the named netns; one that is already gone is fine."""
    if not (NETNS_DIR / name).exists():
        return
    try:
        _ip("netns", "del", name)
    except RuntimeError:
        if not quiet:
            raise
        log.warning("cannot remove network namespace %s", name, exc_info=True)
