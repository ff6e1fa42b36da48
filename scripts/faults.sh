#!/usr/bin/env bash
# `npm run test:faults` (CI runs it after `npm test`; docs/failures.md, "The fault suite"): builds if needed, brings up a
# 3-node KRaft cluster on its own ports (FAULTS_KAFKA_PORT, default 19092-19094, its
# controllers on +100), then runs faults/run.ts: the whole stack on free ports, a Redis of
# its own, steady traffic, every service SIGKILLed and restarted, one broker killed and
# restarted, Redis restarted empty; a table of what was lost or doubled; exit 1 on any.
# The cluster is left running for the next run; stop it with
#   KAFKA_NODES=3 KAFKA_PORT=19092 bash scripts/infra.sh down
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/ensure-build.sh
command -v redis-server >/dev/null || { echo "[faults] redis-server is missing (Debian package redis-server)" >&2; exit 1; }
export KAFKA_NODES=3 KAFKA_PORT=${FAULTS_KAFKA_PORT:-19092}
bash scripts/infra.sh kafka
KAFKA_BROKERS=$(bash scripts/infra.sh brokers)
export KAFKA_BROKERS
# exec: Ctrl-C reaches the suite, which stops what it started.
exec node dist/faults/run.js "$@"
