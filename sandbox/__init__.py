"""A VPC in a box: cloud emulators (EC2 + IMDSv2 today) that behave like the cloud where it
matters for an IPAM daemon, used by the provider contract tests, the integration tests, the
demo and the benchmarks. Everything here listens on 127.0.0.1 only."""
