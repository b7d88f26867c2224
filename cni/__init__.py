"""The CNI plugin side of vpc-ipam: the spec model, the wire protocol and the plugin binary.

Standard library only (tests/unit/cni/test_imports.py enforces it): the binary is exec'd
once per pod and must start fast. Spec model: ``errors`` (codes, CniError), ``versions``
(supported versions, VERSION output, per-version commands), ``env`` (CNI_* variables),
``netconf`` (the stdin configuration), ``result`` (the Result in every version). Wire:
``messages``, ``wire``, ``framing``, ``client``, ``spool``. The binary: ``main`` (entry
point), ``plugin`` (the commands), ``pluginconf`` (our configuration keys), ``delfallback``
and ``netlink`` (DEL without the daemon), ``calllog`` (the per-invocation log line).
"""
