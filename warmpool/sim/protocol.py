"""The Policy protocol: what a warm-pool policy must provide to run on a simulated node.

A policy is the node's pool loop: given the node (its pool, pods, and cloud client) and the
cloud model, it returns the loop as a process body. It may hook ``node.on_add`` to learn of
ADDs (ours wakes its loop; aws-node does not). ``ours`` and ``anchor`` implement it; an
adaptive mode can plug in the same way.
"""

from __future__ import annotations

from typing import Protocol

from warmpool.sim.client import ClientModel
from warmpool.sim.cloud import CloudModel
from warmpool.sim.engine import Proc
from warmpool.sim.node import SimNode


class Policy(Protocol):
    @property
    def name(self) -> str:
        """Short name for tables: ``ours``, ``anchor``, ..."""
        ...

    @property
    def default_client(self) -> ClientModel:
        """How this policy's daemon calls the cloud unless the run says otherwise."""
        ...

    def attach(self, node: SimNode, cloud: CloudModel) -> Proc:
        """The node's pool loop, started when the node joins."""
        ...
