"""Tests of the Kubernetes API emulator (sandbox/kube) through the real kubernetes client."""
