"""The daemon's Kubernetes layer: what the node and the pods on it tell the pool.

- ``api``: the one edge to the API server, over ``transport`` (urllib3); every call it makes
  is one RBAC verb, and its errors become ``errors`` types there and nowhere else.
- ``reflector``: list-then-watch loops that keep a local copy in sync, with backoff and 410
  handling.
- ``nodeinfo`` / ``podinfo``: plain readings of Node, Pod and ENIConfig documents.
- ``leaks``: which allocations belong to pods that are gone.
- ``events``: rate-limited Events on the Node for what an operator must see.
- ``layer``: the whole, as the daemon uses it.

The layer is optional (on when MY_NODE_NAME is set) and never in the request path: ADD and
DEL are served from the datastore whether or not the API server answers.
"""
