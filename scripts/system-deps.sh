#!/usr/bin/env bash
# Installs the system packages Verity needs when they are missing, with apt-get (Debian):
#   runtime  redis-server (used only when no Redis answers and REDIS_URL is unset)
#   test     redis-server and chromium (the IDE test drives it headless)
# Go 1.24+ must be on PATH: it builds the embedded MongoDB (FerretDB) from the Go module proxy.
# Fast and silent when everything is present; safe to run again.
set -euo pipefail

mode="${1:-test}"
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ "$mode" = test ] && [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  missing+=(chromium)
fi

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
  else
    echo "Verity needs: ${missing[*]}. Install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "Installing ${missing[*]} with apt-get (once)..."
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v go >/dev/null 2>&1; then
  echo "Go 1.24 or newer is needed to build the embedded MongoDB (FerretDB); or set MONGODB_URI." >&2
  [ "$mode" = test ] && exit 1
fi
exit 0
