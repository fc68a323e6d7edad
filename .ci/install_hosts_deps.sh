#!/usr/bin/env bash
# Installs what the several-hosts tests (deno task test:hosts) need on Debian/Ubuntu:
# `ip` (iproute2) and `nft` (nftables), each only when missing. It never fails the CI run:
# when apt-get is unavailable or fails it prints one line and exits 0, and the tests then skip
# themselves with their own one-line reason.
#
# Usage: sudo .ci/install_hosts_deps.sh   (or as root)
set -u

PATH="$PATH:/usr/sbin:/sbin"
missing=()
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v nft >/dev/null 2>&1 || missing+=(nftables)

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install_hosts_deps: ip and nft are already installed"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_hosts_deps: apt-get not found; cannot install ${missing[*]}; the several-hosts tests will skip"
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
    sudo=(sudo -n)
  else
    echo "install_hosts_deps: not root and no passwordless sudo; cannot install ${missing[*]}; the several-hosts tests will skip"
    exit 0
  fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "install_hosts_deps: installing ${missing[*]}"
if ! ${sudo[@]+"${sudo[@]}"} apt-get update -qq >/dev/null; then
  echo "install_hosts_deps: apt-get update failed; trying the install anyway"
fi
if ! ${sudo[@]+"${sudo[@]}"} apt-get install -y -qq -o DPkg::Lock::Timeout=120 --no-install-recommends "${missing[@]}" >/dev/null; then
  echo "install_hosts_deps: apt-get install ${missing[*]} failed; the several-hosts tests will skip"
  exit 0
fi

for tool in ip nft; do
  command -v "$tool" >/dev/null 2>&1 || echo "install_hosts_deps: $tool is still missing; the several-hosts tests will skip"
done
exit 0
