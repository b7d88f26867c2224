"""Benchmarks: each measures ours against a reference in the same run and prints ratios.

``python -m bench [name ...]`` (``make bench``) runs them; each writes ``bench/out/<name>.json``.
None of them asserts a timing: machines are shared and noisy, so the number that matters is
the ratio to a reference measured side by side, interleaved where possible (DESIGN.md §8).
"""
