"""A Kubernetes API server emulator on 127.0.0.1 that the real ``kubernetes`` client talks to
unchanged: nodes, pods, events and ENIConfigs, watches with resourceVersions and 410 Gone,
optimistic concurrency (409), and an unavailable switch (503). See ``emulator.KubeEmulator``.
"""

from sandbox.kube.emulator import KEEP, KubeEmulator

__all__ = ["KEEP", "KubeEmulator"]
