#!/usr/bin/env bash
# Install everything the tests need on a clean Debian machine (run as root,
# as .ci/run does): Debian's prometheus, Debian's chromium (browser tests of
# the reports) and the sandbox binaries, the real node's included.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v prometheus >/dev/null 2>&1; then
  echo "ci-deps: installing Debian's prometheus package"
  # The package's maintainer scripts would start a Prometheus service on
  # :9090; the sandbox runs its own on a free port, so forbid service starts
  # during the install (policy-rc.d exit 101 = "action not allowed").
  created_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends prometheus
  if [ -n "$created_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
  # Belt and braces for systemd hosts that ignore policy-rc.d.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl stop prometheus || true
    systemctl disable prometheus || true
  fi
fi
prometheus --version 2>&1 | head -n 1

# The HTML report and the runner's pages are tested in a real headless browser.
if ! command -v chromium >/dev/null 2>&1; then
  echo "ci-deps: installing Debian's chromium package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends chromium
fi
chromium --version 2>/dev/null | head -n 1 || true

echo "ci-deps: sandbox binaries, with the real node's (cached after the first build)"
# -realnode: the kubelet and containerd built from the Go module proxy, and
# Debian's runc and CNI plugins unpacked into the cache (nothing installed):
# test/realnode runs real pods and, like every sandbox test, may not skip.
# apt-get download needs the package lists (a fresh image may have none).
if ! apt-cache show runc containernetworking-plugins >/dev/null 2>&1; then
  apt-get update -q
fi
bash hack/sandbox-tools.sh -realnode
