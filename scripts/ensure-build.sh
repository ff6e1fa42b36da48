#!/usr/bin/env bash
# Installs dependencies from the lock file when they are missing or older than it,
# and compiles when a source is newer than the last build, so every entry point
# (demo, tests, bench, up) works from a fresh clone with no step of its own.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# By the lock file's content, not its time: a checkout or merge touches the file without changing it.
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -d node_modules || $(cat node_modules/.switchyard-lock 2>/dev/null) != "$lock_hash" ]]; then
  echo "[build] installing dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" >node_modules/.switchyard-lock
fi

stamp=dist/.built
if [[ ! -f $stamp ]] || [[ -n $(find apps libs demo bench faults tools test scripts/post-build.sh tsconfig.json tsconfig.build.json package-lock.json -newer "$stamp" -type f -print -quit 2>/dev/null) ]]; then
  echo "[build] compiling TypeScript"
  # One command a line: set -e does not stop at a failure inside an && list, which would stamp a broken build.
  npx tsc -p tsconfig.build.json
  npx tsc-alias -p tsconfig.build.json
  bash scripts/post-build.sh
  touch "$stamp"
fi
