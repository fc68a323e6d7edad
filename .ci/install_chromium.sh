#!/usr/bin/env bash
# Installs Debian's chromium for the status page's headless-browser test
# (tests/status/live_node_test.ts), only when missing. It never fails the CI run: when apt-get is
# unavailable or fails it prints one line and exits 0, and the test skips its browser step with a
# message.
#
# Usage: sudo .ci/install_chromium.sh   (or as root)
set -u

if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
  echo "install_chromium: chromium is already installed"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_chromium: apt-get not found; the status page's browser test will skip"
  exit 0
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
    sudo=(sudo -n)
  else
    echo "install_chromium: not root and no passwordless sudo; the status page's browser test will skip"
    exit 0
  fi
fi
export DEBIAN_FRONTEND=noninteractive
echo "install_chromium: installing chromium"
if ! ${sudo[@]+"${sudo[@]}"} apt-get install -y -qq -o DPkg::Lock::Timeout=120 chromium >/dev/null 2>&1; then
  # The package lists may be missing or stale on a fresh machine.
  ${sudo[@]+"${sudo[@]}"} apt-get update -qq >/dev/null 2>&1 || true
  if ! ${sudo[@]+"${sudo[@]}"} apt-get install -y -qq -o DPkg::Lock::Timeout=120 chromium >/dev/null; then
    echo "install_chromium: apt-get install chromium failed; the status page's browser test will skip"
    exit 0
  fi
fi
command -v chromium >/dev/null 2>&1 || echo "install_chromium: chromium is still missing; the browser test will skip"
exit 0
