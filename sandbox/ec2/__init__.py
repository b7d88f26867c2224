"""EC2 emulator: moto's EC2 backend with a fidelity layer of ours (limits, unique addresses,
aligned prefixes, EC2's error codes), an HTTP front (call counts, latency, throttling, injected
faults) and a Python API for tests (``Ec2Emulator``).

Modules: ``state`` (per-backend allocators, appearance times, limits), ``rules`` (EC2's rules as
functions), ``fidelity`` (installs them into moto), ``errors`` (EC2's error codes), ``throttle``
(token buckets), ``front`` (WSGI middleware), ``emulator`` (the server and the test API).
"""

from sandbox.ec2.emulator import Ec2Emulator
from sandbox.ec2.fidelity import installed

__all__ = ["Ec2Emulator", "installed"]
