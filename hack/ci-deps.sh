#!/usr/bin/env bash
# What the tests need, installed or built before `make test` runs them (the
# Makefile's test target calls this first, so `make test` is the only command):
# - the sandbox binaries, built from the Go module proxy into the user cache:
#   the control plane, etcd, kwok and Prometheus (no root needed), and, as
#   root on Linux, the real node's kubelet and containerd with Debian's runc
#   and CNI plugins unpacked next to them (nothing installed);
# - Debian's chromium (browser tests of the reports), installed with apt-get
#   as root; without root, a missing chromium stops here with the command.
# Idempotent and quick when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."

root=""
if [ "$(id -u)" = 0 ]; then root=1; fi

if ! command -v chromium >/dev/null 2>&1; then
  if [ -n "$root" ] && command -v apt-get >/dev/null 2>&1; then
    echo "test deps: installing Debian's chromium package (the reports are tested in a headless browser)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends chromium
  else
    echo "test deps: chromium is missing (the reports are tested in a headless browser); install it with:" >&2
    echo "  sudo apt-get install -y --no-install-recommends chromium     # then run make test again" >&2
    echo "or run only the tests that need nothing installed: make unit" >&2
    exit 1
  fi
fi

if [ -n "$root" ] && [ "$(uname -s)" = Linux ]; then
  echo "test deps: sandbox binaries with the real node's (cached after the first build)"
  # apt-get download (runc, CNI plugins) needs the package lists; a fresh
  # image may have none.
  if ! apt-cache show runc containernetworking-plugins >/dev/null 2>&1; then
    apt-get update -q
  fi
  bash hack/sandbox-tools.sh -realnode
else
  echo "test deps: sandbox binaries (not root: no real node, so test/realnode will fail and say why)"
  bash hack/sandbox-tools.sh
fi
