#!/usr/bin/env bash
# `npm run demo`: from a fresh clone, install and build, bring the stack up
# (real Kafka and Redis included) and drive it through the four strategies.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/ensure-build.sh
bash scripts/stack.sh up
node dist/demo/main.js "$@"
