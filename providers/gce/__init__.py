"""Compute Engine: alias IP ranges on the node's nic0 as warm-pool blocks.

``google-cloud-compute`` takes about a second to import, so only ``factory`` and
``provider`` import it, and only the daemon's GCE path imports them.
"""
