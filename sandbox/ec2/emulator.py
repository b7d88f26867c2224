"""``Ec2Emulator``: moto's server on 127.0.0.1 with the fidelity layer and the HTTP front, plus
IMDSv2 servers per instance and a small Python API for tests to build a VPC.

    with Ec2Emulator(clock=FakeClock()) as emulator:
        vpc = emulator.create_vpc("10.0.0.0/16")
        subnet = emulator.create_subnet(vpc, "10.0.0.0/26", "us-east-1a")
        node = emulator.launch_instance("m5.large", subnet)
        ec2 = emulator.client()  # or boto3 with endpoint_url=emulator.endpoint_url
        imds = emulator.imds_url(node)  # + "/latest/api/token", "/latest/meta-data/..."

The emulator drops moto's EC2 state on entry and on exit, so use one at a time per process.
Its own setup calls go over HTTP too (so they meet the same rules) but are marked internal:
they are not counted, throttled, delayed or failed.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from sandbox import imds as imds_module  # a module import: sandbox.imds imports sandbox.ec2
from sandbox.clock import Clock, SystemClock
from sandbox.ec2 import fidelity
from sandbox.ec2.front import INTERNAL_HEADER, Call, Front
from sandbox.ec2.state import _STATE_ATTR, state_of

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

FAKE_ACCESS_KEY = "testing"
FAKE_SECRET_KEY = "testing"  # moto's documented fake credentials
DEFAULT_IMAGE = "ami-12c6146b"


_session_lock = threading.Lock()
_sessions: list[boto3.session.Session] = []


def _session() -> boto3.session.Session:
    """One boto3 session for the emulator's clients: a new session reloads botocore's JSON
    models (a third of a second), and moto's mock_aws replaces boto3's default session."""
    if not _sessions:
        _sessions.append(boto3.session.Session())
    return _sessions[0]


def _forget_ec2_state() -> None:
    """Drop moto's EC2 backends (all accounts and regions); they are rebuilt fresh on next
    use. Cheaper than moto's reset, which rebuilds every backend only to drop it."""
    ec2_backends.clear()


class _QuietHandler(MotoRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


class Ec2Emulator:
    """An EC2 endpoint on loopback that behaves like EC2 where an IPAM daemon cares."""

    def __init__(self, region: str = "us-east-1", clock: Clock | None = None) -> None:
        self.region = region
        self.clock: Clock = clock or SystemClock()
        self.account_id = DEFAULT_ACCOUNT_ID
        self.front = Front(DomainDispatcherApplication(create_backend_app), self.clock)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._imds: dict[str, imds_module.ImdsServer] = {}
        self._imds_lock = threading.Lock()
        self._imds_lag = 0.0
        self._imds_omitted: set[str] = set()
        self._client: EC2Client | None = None

    # -- lifecycle --

    def __enter__(self) -> Ec2Emulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        _forget_ec2_state()
        fidelity.install(self.clock)
        try:
            server = make_server(
                "127.0.0.1", 0, self.front, threaded=True, request_handler=_QuietHandler
            )
        except BaseException:
            fidelity.uninstall()
            raise
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="ec2-emulator",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        with self._imds_lock:
            servers, self._imds = list(self._imds.values()), {}
        try:
            for imds in servers:
                imds.stop()
        finally:
            if self._server is not None:
                self._server.shutdown()
                self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = None
            self._thread = None
            self._client = None
            fidelity.uninstall()
            _forget_ec2_state()

    @property
    def endpoint_url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_port}"

    def client(self, config: Config | None = None) -> EC2Client:
        """A boto3 EC2 client for this endpoint with fake credentials; pass
        ``Config(retries={"mode": "standard", "total_max_attempts": 1})`` to see errors as
        they are."""
        with _session_lock:
            return _session().client(
                "ec2",
                endpoint_url=self.endpoint_url,
                region_name=self.region,
                aws_access_key_id=FAKE_ACCESS_KEY,
                aws_secret_access_key=FAKE_SECRET_KEY,
                config=config,
            )

    @property
    def backend(self) -> Any:
        """moto's EC2 backend behind the endpoint (for inspection in tests)."""
        return ec2_backends[self.account_id][self.region]

    def _internal(self) -> EC2Client:
        if self._client is None:
            client = self.client(Config(retries={"mode": "standard", "total_max_attempts": 1}))

            def mark(request: Any, **_: Any) -> None:
                request.headers[INTERNAL_HEADER] = "1"

            client.meta.events.register("before-sign.ec2", mark)
            self._client = client
        return self._client

    # -- building a VPC --

    def create_vpc(self, cidr: str, secondary_cidrs: tuple[str, ...] = ()) -> str:
        client = self._internal()
        vpc_id: str = client.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
        for extra in secondary_cidrs:
            client.associate_vpc_cidr_block(VpcId=vpc_id, CidrBlock=extra)
        return vpc_id

    def create_subnet(self, vpc_id: str, cidr: str, zone: str | None = None) -> str:
        subnet = self._internal().create_subnet(
            VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=zone or f"{self.region}a"
        )
        return str(subnet["Subnet"]["SubnetId"])

    def create_security_group(self, vpc_id: str, name: str) -> str:
        group = self._internal().create_security_group(
            GroupName=name, Description=name, VpcId=vpc_id
        )
        return str(group["GroupId"])

    def launch_instance(
        self, instance_type: str, subnet_id: str, security_groups: tuple[str, ...] = ()
    ) -> str:
        """Run one instance; its primary interface takes its address through the subnet's
        allocator. ``security_groups`` are group ids."""
        params: dict[str, Any] = {
            "ImageId": DEFAULT_IMAGE,
            "MinCount": 1,
            "MaxCount": 1,
            "InstanceType": instance_type,
            "SubnetId": subnet_id,
        }
        if security_groups:
            params["SecurityGroupIds"] = list(security_groups)
        reservation = self._internal().run_instances(**params)
        return str(reservation["Instances"][0]["InstanceId"])

    # -- IMDS --

    def imds_url(self, instance_id: str) -> str:
        """Base URL of the instance's IMDSv2 (started on first use)."""
        with self._imds_lock:
            imds = self._imds.get(instance_id)
            if imds is None:
                self.backend.get_instance(instance_id)  # unknown id: EC2's NotFound error
                imds = imds_module.ImdsServer(
                    self._imds_backend, instance_id, self.clock, lambda: self._imds_lag
                ).start()
                self._imds[instance_id] = imds
            return imds.url

    def set_imds_lag(self, seconds: float) -> None:
        self._imds_lag = max(0.0, seconds)

    def imds_omit(self, *interface_ids: str) -> None:
        """IMDS stops listing these interfaces (as if it lagged behind EC2 for them) until
        ``imds_restore``; EC2's own API still shows them."""
        self._imds_omitted.update(interface_ids)

    def imds_restore(self, *interface_ids: str) -> None:
        """IMDS lists these interfaces again (all omitted ones when none are named)."""
        if interface_ids:
            self._imds_omitted.difference_update(interface_ids)
        else:
            self._imds_omitted.clear()

    def _imds_backend(self) -> Any:
        backend = self.backend
        omitted = frozenset(self._imds_omitted)
        return _OmittingBackend(backend, omitted) if omitted else backend

    # -- the HTTP front --

    def throttle(self, target: str, burst: int | None = None, rate: float | None = None) -> None:
        """Switch on a token bucket for an action class (``describe``, ``allocate``,
        ``mutating``) or one action; sizes default to EC2's for that class."""
        self.front.throttle.limit(target, burst, rate)

    def throttle_like_ec2(self) -> None:
        self.front.throttle.limit_all_like_ec2()

    def unthrottle(self) -> None:
        self.front.throttle.clear()

    def set_latency(self, action: str, seconds: float) -> None:
        self.front.set_latency(action, seconds)

    def fail_next(self, action: str, code: str, message: str, status: int = 400) -> None:
        self.front.fail_next(action, code, message, status)

    def fail_matching(
        self,
        target: str,
        code: str,
        message: str,
        status: int = 400,
        *,
        share: float = 1.0,
        seed: int = 0,
    ) -> None:
        """A standing fault: ``share`` of the calls of an action or class fail until
        ``clear_faults`` (see ``Front.fail_matching``)."""
        self.front.fail_matching(target, code, message, status, share=share, seed=seed)

    def clear_faults(self, target: str | None = None) -> None:
        self.front.clear_faults(target)

    def serve_stale(self, action: str, stale: bool = True) -> None:
        """Answer ``action`` with the data of its first answer after the switch (a stale
        describe) until switched off."""
        self.front.serve_stale(action, stale)

    def journal(self, *actions: str) -> list[Call]:
        """The calls clients made, with their parameters (see ``Front.journal``)."""
        return self.front.journal(*actions)

    def call_counts(self) -> dict[str, int]:
        return self.front.call_counts()

    def throttled_counts(self) -> dict[str, int]:
        return self.front.throttled_counts()

    def reset_counts(self) -> None:
        self.front.reset_counts()


class _OmittingBackend:
    """moto's backend as IMDS sees it while some interfaces are omitted: ``enis`` lacks them
    (so IMDS neither lists them nor answers for their MACs); everything else is the backend."""

    def __init__(self, backend: Any, omitted: frozenset[str]) -> None:
        self._backend = backend
        self._omitted = omitted
        # the fidelity layer keeps its state (appearance times, for the lag) in the backend
        self.__dict__[_STATE_ATTR] = state_of(backend)

    @property
    def enis(self) -> dict[str, Any]:
        return {k: v for k, v in self._backend.enis.items() if k not in self._omitted}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)
