"""The CNI Result (what ADD prints and what ``prevResult`` carries), in every version we speak.

The model is version-free: it holds the 1.1.0 superset, and the version is a parameter of
parsing and emitting only. What differs between versions (SPEC.md at each spec tag):

- 0.3.0, 0.3.1 and 0.4.0 have the same shape. Each ``ips`` entry has a ``version`` field
  ("4" or "6") that 1.0.0 removed; it is derived from the address when emitting.
- 1.1.0 added interface ``mtu``, ``socketPath`` and ``pciID``, and route ``mtu``, ``advmss``,
  ``priority``, ``table`` and ``scope``. They are read only from 1.1.0 input and written only
  to 1.1.0 output. (libcni keeps the route fields in 0.4.0 and 1.0.0 output because its Go
  Route type is shared; we follow the spec text.)
- ``interface`` in ``ips`` is an index into ``interfaces``; 0 is a real index and is always
  written, absence means "not tied to an interface" (IPAM results).

Emitting follows libcni's ``omitempty`` tags: empty lists, empty strings, zero mtu/advmss/
priority, absent gateway/table/scope/interface and an empty ``dns`` are left out; an
interface ``name`` is always written. No conversion between the five versions loses
required meaning, so none fails; only an unsupported version does (code 1). Malformed input
raises CniError code 6 listing every problem found.
"""

from __future__ import annotations

from cni import _fields as f
from cni._base import Record, type_name
from cni.errors import DECODING_FAILURE, CniError
from cni.versions import require_supported, version_at_least

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ipaddress as ip
    from collections.abc import Iterable

    IPAddress = ip.IPv4Address | ip.IPv6Address
    IPInterface = ip.IPv4Interface | ip.IPv6Interface
    IPNetwork = ip.IPv4Network | ip.IPv6Network


class Interface(Record):
    __slots__ = ("mac", "mtu", "name", "pci_id", "sandbox", "socket_path")
    name: str
    mac: str
    mtu: int  # 1.1.0+; 0 = unknown
    sandbox: str  # netns path for interfaces inside the container, "" on the host
    socket_path: str  # 1.1.0+
    pci_id: str  # 1.1.0+

    def __init__(
        self,
        name: str,
        *,
        mac: str = "",
        mtu: int = 0,
        sandbox: str = "",
        socket_path: str = "",
        pci_id: str = "",
    ) -> None:
        self.name, self.mac, self.mtu, self.sandbox = name, mac, mtu, sandbox
        self.socket_path, self.pci_id = socket_path, pci_id


class IPConfig(Record):
    __slots__ = ("address", "gateway", "interface")
    address: IPInterface  # the address with its prefix, e.g. 10.1.0.5/16
    gateway: IPAddress | None
    interface: int | None  # index into Result.interfaces

    def __init__(
        self,
        address: IPInterface,
        gateway: IPAddress | None = None,
        *,
        interface: int | None = None,
    ) -> None:
        self.address, self.gateway, self.interface = address, gateway, interface


class Route(Record):
    __slots__ = ("advmss", "dst", "gw", "mtu", "priority", "scope", "table")
    dst: IPNetwork
    gw: IPAddress | None
    mtu: int  # 1.1.0+ (0 = unset), like advmss and priority
    advmss: int
    priority: int
    table: int | None  # 1.1.0+
    scope: int | None  # 1.1.0+; 0 is "global", so None is "unset"

    def __init__(
        self,
        dst: IPNetwork,
        gw: IPAddress | None = None,
        *,
        mtu: int = 0,
        advmss: int = 0,
        priority: int = 0,
        table: int | None = None,
        scope: int | None = None,
    ) -> None:
        self.dst, self.gw, self.mtu, self.advmss, self.priority = dst, gw, mtu, advmss, priority
        self.table, self.scope = table, scope


class DNS(Record):
    __slots__ = ("domain", "nameservers", "options", "search")
    nameservers: tuple[str, ...]
    domain: str
    search: tuple[str, ...]
    options: tuple[str, ...]

    def __init__(
        self,
        nameservers: Iterable[str] = (),
        *,
        domain: str = "",
        search: Iterable[str] = (),
        options: Iterable[str] = (),
    ) -> None:
        self.nameservers, self.domain = tuple(nameservers), domain
        self.search, self.options = tuple(search), tuple(options)

    def is_empty(self) -> bool:
        return not (self.nameservers or self.domain or self.search or self.options)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {}
        if self.nameservers:
            out["nameservers"] = list(self.nameservers)
        if self.domain:
            out["domain"] = self.domain
        if self.search:
            out["search"] = list(self.search)
        if self.options:
            out["options"] = list(self.options)
        return out


class Result(Record):
    __slots__ = ("dns", "interfaces", "ips", "routes")
    interfaces: tuple[Interface, ...]
    ips: tuple[IPConfig, ...]
    routes: tuple[Route, ...]
    dns: DNS

    def __init__(
        self,
        *,
        interfaces: Iterable[Interface] = (),
        ips: Iterable[IPConfig] = (),
        routes: Iterable[Route] = (),
        dns: DNS | None = None,
    ) -> None:
        self.interfaces, self.ips, self.routes = tuple(interfaces), tuple(ips), tuple(routes)
        self.dns = DNS() if dns is None else dns

    @classmethod
    def from_json(cls, obj: object, default_version: str | None = None) -> Result:
        """Parse a result written at its own ``cniVersion`` (or ``default_version`` when it
        carries none, as ``prevResult`` usually does). Keys the version does not define are
        ignored, as libcni ignores them."""
        if not isinstance(obj, dict):
            raise CniError(DECODING_FAILURE, "result must be a JSON object", type_name(obj))
        version = obj.get("cniVersion") or default_version
        if not isinstance(version, str):
            raise CniError(
                DECODING_FAILURE, "result has no cniVersion", f"cniVersion: {type_name(version)}"
            )
        require_supported(version)
        problems: list[str] = []
        result = _parse_result(obj, version, problems)
        if problems:
            raise CniError(DECODING_FAILURE, "failed to decode CNI result", "; ".join(problems))
        return result

    def to_json(self, version: str) -> dict[str, object]:
        """This result as ``version``'s JSON (CniError code 1 if we do not speak it)."""
        require_supported(version)
        legacy_ips = not version_at_least(version, "1.0.0")
        v11 = version_at_least(version, "1.1.0")
        out: dict[str, object] = {"cniVersion": version}
        if self.interfaces:
            out["interfaces"] = [_interface_json(i, v11) for i in self.interfaces]
        if self.ips:
            out["ips"] = [_ip_json(ipc, legacy_ips) for ipc in self.ips]
        if self.routes:
            out["routes"] = [_route_json(r, v11) for r in self.routes]
        if not self.dns.is_empty():
            out["dns"] = self.dns.to_json()
        return out


def convert_result(
    obj: object, to_version: str, default_version: str | None = None
) -> dict[str, object]:
    """Re-emit a result JSON object at ``to_version``."""
    return Result.from_json(obj, default_version).to_json(to_version)


# --- emitting -------------------------------------------------------------------------


def _interface_json(intf: Interface, v11: bool) -> dict[str, object]:
    out: dict[str, object] = {"name": intf.name}
    if intf.mac:
        out["mac"] = intf.mac
    if v11 and intf.mtu:
        out["mtu"] = intf.mtu
    if intf.sandbox:
        out["sandbox"] = intf.sandbox
    if v11 and intf.socket_path:
        out["socketPath"] = intf.socket_path
    if v11 and intf.pci_id:
        out["pciID"] = intf.pci_id
    return out


def _ip_json(ipc: IPConfig, legacy: bool) -> dict[str, object]:
    out: dict[str, object] = {}
    if legacy:
        out["version"] = str(ipc.address.version)
    if ipc.interface is not None:
        out["interface"] = ipc.interface
    out["address"] = str(ipc.address)
    if ipc.gateway is not None:
        out["gateway"] = str(ipc.gateway)
    return out


def _route_json(route: Route, v11: bool) -> dict[str, object]:
    out: dict[str, object] = {"dst": str(route.dst)}
    if route.gw is not None:
        out["gw"] = str(route.gw)
    if not v11:
        return out
    if route.mtu:
        out["mtu"] = route.mtu
    if route.advmss:
        out["advmss"] = route.advmss
    if route.priority:
        out["priority"] = route.priority
    if route.table is not None:
        out["table"] = route.table
    if route.scope is not None:
        out["scope"] = route.scope
    return out


# --- parsing: each helper appends "path: problem" to `problems` and returns a default --


def _parse_result(obj: dict[str, object], version: str, problems: list[str]) -> Result:
    legacy_ips = not version_at_least(version, "1.0.0")
    v11 = version_at_least(version, "1.1.0")
    interfaces = [
        _parse_interface(item, path, v11, problems)
        for path, item in f.objects(obj, "interfaces", problems)
    ]
    ips: list[IPConfig] = []
    for path, item in f.objects(obj, "ips", problems):
        ipc = _parse_ip(item, path, legacy_ips, problems)
        if ipc is None:
            continue
        if ipc.interface is not None and ipc.interface >= len(interfaces):
            problems.append(f"{path}.interface: index {ipc.interface} is not in interfaces")
        ips.append(ipc)
    routes = [
        _parse_route(item, path, v11, problems) for path, item in f.objects(obj, "routes", problems)
    ]
    dns = _parse_dns(obj.get("dns"), "dns", problems)
    return Result(
        interfaces=interfaces, ips=ips, routes=[r for r in routes if r is not None], dns=dns
    )


def _parse_interface(
    obj: dict[str, object], path: str, v11: bool, problems: list[str]
) -> Interface:
    return Interface(
        name=f.string(obj, "name", path, problems),
        mac=f.string(obj, "mac", path, problems),
        mtu=(f.uint(obj, "mtu", path, problems) or 0) if v11 else 0,
        sandbox=f.string(obj, "sandbox", path, problems),
        socket_path=f.string(obj, "socketPath", path, problems) if v11 else "",
        pci_id=f.string(obj, "pciID", path, problems) if v11 else "",
    )


def _parse_ip(
    obj: dict[str, object], path: str, legacy: bool, problems: list[str]
) -> IPConfig | None:
    address = f.cidr(obj, "address", path, problems)
    gateway = f.ip_address(obj, "gateway", path, problems)
    interface = f.uint(obj, "interface", path, problems)
    if address is None:
        return None
    if gateway is not None and gateway.version != address.version:
        problems.append(f"{path}.gateway: {gateway} is not the family of {address}")
    ip_version = obj.get("version") if legacy else None
    if ip_version is not None and ip_version != str(address.version):
        problems.append(f"{path}.version: {ip_version!r} does not match address {address}")
    return IPConfig(address, gateway, interface=interface)


def _parse_route(obj: dict[str, object], path: str, v11: bool, problems: list[str]) -> Route | None:
    dst = f.cidr(obj, "dst", path, problems)
    gw = f.ip_address(obj, "gw", path, problems)
    if dst is None:
        return None
    if gw is not None and gw.version != dst.version:
        problems.append(f"{path}.gw: {gw} is not the family of {dst.network}")
    if not v11:
        return Route(dst.network, gw)
    return Route(
        dst.network,
        gw,
        mtu=f.uint(obj, "mtu", path, problems) or 0,
        advmss=f.uint(obj, "advmss", path, problems) or 0,
        priority=f.uint(obj, "priority", path, problems) or 0,
        table=f.uint(obj, "table", path, problems),
        scope=f.uint(obj, "scope", path, problems),
    )


def _parse_dns(obj: object, path: str, problems: list[str]) -> DNS:
    if obj is None:
        return DNS()
    if not isinstance(obj, dict):
        problems.append(f"{path}: must be an object, got {type_name(obj)}")
        return DNS()
    return DNS(
        nameservers=f.string_list(obj, "nameservers", path, problems),
        domain=f.string(obj, "domain", path, problems),
        search=f.string_list(obj, "search", path, problems),
        options=f.string_list(obj, "options", path, problems),
    )
