"""Unit tests of config/: parsing, defaults, checks, warnings, describe and --check-config."""
