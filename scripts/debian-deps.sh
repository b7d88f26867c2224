#!/usr/bin/env bash
# Installs the Debian packages the test suite needs (or those named as arguments, e.g.
# containernetworking-plugins for `make bench`), and only those that are missing, so a warm
# machine does not pay for apt-get at every `make test`.
set -euo pipefail

if [ "$#" -gt 0 ]; then
  packages=("$@")
else
  # containernetworking-plugins: the bench smoke tests; podman, runc, busybox-static: the
  # runtime test (tests/e2e/test_podman.py: podman 4.x over CNI, a busybox image it imports)
  packages=(iproute2 nftables containernetworking-plugins podman runc busybox-static)
fi

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "debian-deps: missing packages ${missing[*]}; run as root or install them yourself" >&2
  exit 1
fi

echo "debian-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
