"""The CNI plugin side of vpc-ipam: the spec model and, later, the thin plugin binary.

Standard library only (tests/unit/cni/test_imports.py enforces it): the binary is exec'd
once per pod and must start fast. Modules: ``errors`` (error codes, CniError), ``versions``
(supported versions, VERSION output, per-version commands), ``env`` (CNI_* variables),
``netconf`` (the stdin configuration) and ``result`` (the Result in every version).
"""
