#!/usr/bin/env bash
# ensure-debian-package.sh PATH PACKAGE: installs Debian's PACKAGE when PATH is missing
# (the dashboard test needs /usr/bin/chromium, the rules test /usr/bin/promtool, the
# Kubernetes manifests test /usr/bin/kubectl).
# As root only; otherwise it fails saying what to run.
set -euo pipefail
path=$1 package=$2
[[ -x $path ]] && exit 0
if [[ $(id -u) -ne 0 ]]; then
  echo "$path is missing: install it with 'sudo apt-get install -y $package' (Debian/Ubuntu), then run the tests again" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "$path is missing and this system has no apt-get: install the package that provides it ($package on Debian)" >&2
  exit 1
fi
echo "[setup] installing $package for $path" >&2
export DEBIAN_FRONTEND=noninteractive
# Another installer may hold the dpkg lock; wait for it rather than fail.
apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "$package" >&2
[[ -x $path ]] || { echo "installed $package but $path is still missing" >&2; exit 1; }
