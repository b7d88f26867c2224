"""Compute Engine emulator: the REST API ``google.cloud.compute_v1`` talks to (instances.get,
updateNetworkInterface with its fingerprint compare-and-swap, zone operations,
subnetworks.get) and a GCE metadata server per instance, over one model, on 127.0.0.1.

Modules: ``model`` (the project's state, one lock, operations settled by the clock),
``blocks`` (per-range allocation), ``updates`` (updateNetworkInterface's rules), ``resources``
(the API's JSON), ``errors`` (Google's error bodies and reasons), ``api`` (routes and the
front: counts, latency, throttling, faults), ``metadata`` (the metadata server),
``loopback`` (the HTTP servers), ``emulator`` (``ComputeEmulator``, the Python API).
"""

from sandbox.gce.emulator import ComputeEmulator, Instance

__all__ = ["ComputeEmulator", "Instance"]
