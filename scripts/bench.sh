#!/usr/bin/env bash
# `npm run bench`: builds if needed, brings up Kafka and Redis when they do not answer,
# then runs bench/main.ts (router overhead vs a bare proxy, strategy costs vs single, and
# the peers: nginx, installed when missing, and a Kafka Streams join, built by Maven).
# Options are passed through: `npm run bench -- --help`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

for arg in "$@"; do
  if [[ $arg == -h || $arg == --help ]]; then
    bash scripts/ensure-build.sh >&2
    exec node dist/bench/main.js --help
  fi
done

# The Kafka Streams peer of the pipeline part (Java 17, Maven): its jar is built once.
peer=bench/peers/kafka-streams-join
[[ -f $peer/target/kafka-streams-join.jar ]] || { echo "[bench] building $peer (mvn -q package)"; mvn -B -q -f $peer/pom.xml package; }
bash scripts/ensure-build.sh
bash scripts/infra.sh status >/dev/null 2>&1 || bash scripts/infra.sh up
# exec: the bench process gets Ctrl-C / SIGTERM directly and stops its child processes.
exec node dist/bench/main.js "$@"
