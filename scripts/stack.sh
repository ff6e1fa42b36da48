#!/usr/bin/env bash
# `npm run up` / `npm run down`: the whole Switchyard stack in the background —
# Kafka and Redis when they are not reachable, every service and the demo
# model-server — ready when `up` returns. Logs in .logs/, pids in .logs/pids/.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOGS=$ROOT/.logs
PIDS=$LOGS/pids
cd "$ROOT"

# name:port:entry[:grpc port] — ports are the services' defaults (docs/configuration.md); each can be moved
# with its env var. The router and the model-server also serve the Open Inference Protocol over gRPC (GRPC_PORT).
SERVICES=(
  "model-server:${MODEL_SERVER_PORT:-9000}:dist/apps/model-server/src/main.js:${MODEL_SERVER_GRPC_PORT:-9001}"
  "router:${ROUTER_PORT:-3000}:dist/apps/router/src/main.js:${ROUTER_GRPC_PORT:-8001}"
  "shadow-worker:${SHADOW_WORKER_PORT:-3001}:dist/apps/shadow-worker/src/main.js"
  "feedback-joiner:${FEEDBACK_JOINER_PORT:-3002}:dist/apps/feedback-joiner/src/main.js"
  "bandit-updater:${BANDIT_UPDATER_PORT:-3003}:dist/apps/bandit-updater/src/main.js"
  "rollout-controller:${ROLLOUT_CONTROLLER_PORT:-3004}:dist/apps/rollout-controller/src/main.js"
)

usage() {
  cat <<'USAGE'
Usage: scripts/stack.sh up|down|status

  up      start infrastructure (if needed) and every service that is not running (one
          still exiting is waited out, then started again); wait until each is ready
  down    stop the services `up` started (SIGTERM, then SIGKILL after 20 s), then the
          infrastructure `up` started
  status  show each service's pid and readiness

The router's admin key is ADMIN_API_KEY when set, else one generated into
.switchyard/admin-key on the first `up`; its feedback key likewise FEEDBACK_API_KEY,
else .switchyard/feedback-key (the admin key works for feedback too); the key of feedback
tokens FEEDBACK_TOKEN_SECRET, else .switchyard/feedback-token-secret.

Ports: MODEL_SERVER_PORT (9000), ROUTER_PORT (3000), SHADOW_WORKER_PORT (3001),
FEEDBACK_JOINER_PORT (3002), BANDIT_UPDATER_PORT (3003), ROLLOUT_CONTROLLER_PORT (3004);
OIP gRPC: ROUTER_GRPC_PORT (8001, where tritonclient.grpc looks for Triton),
MODEL_SERVER_GRPC_PORT (9001).
Every other variable
(KAFKA_BROKERS, REDIS_URL, TOPIC_PREFIX, ...) is passed to the services as is.
USAGE
}

# Alive: the recorded pid runs and is still our node process (not a pid the kernel reused).
alive() {
  local pid
  [[ -f $PIDS/$1.pid ]] || return 1
  pid=$(cat "$PIDS/$1.pid")
  [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$2"
}

ready() { curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$1/readyz"; }

# The control plane and feedback are closed by default: ADMIN_API_KEY and FEEDBACK_API_KEY
# when set, else a key generated once into .switchyard/admin-key (feedback-key), git-ignored,
# which the demo and the CLI read too.
ensure_key() {
  local var=$1 name=$2 what=$3 use=${4:-need: Authorization: Bearer <key>}
  if [[ -n ${!var:-} ]]; then return; fi
  local file=$ROOT/.switchyard/$name
  if [[ ! -s $file ]]; then
    mkdir -p "$(dirname "$file")"
    (umask 077 && node -e "process.stdout.write(require('crypto').randomBytes(24).toString('hex'))" >"$file")
    echo "[stack] generated a key in .switchyard/$name ($what $use)"
  fi
  printf -v "$var" '%s' "$(cat "$file")"
  export "${var?}"
}

# Something (anyone) accepts connections on the port.
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A recorded process that is alive but not ready is either starting or dying (draining
# after SIGTERM answers 503, then exits): wait until it is ready (keep it) or gone
# (start a new one). Answers 0 when it is running and ready.
settle() {
  local name=$1 port=$2 main=$3
  alive "$name" "$main" || return 1
  for _ in $(seq 1 60); do
    ready "$port" && return 0
    alive "$name" "$main" || { echo "[stack] $name (pid $(cat "$PIDS/$name.pid")) was exiting; starting it again"; return 1; }
    sleep 0.5
  done
  echo "[stack] $name (pid $(cat "$PIDS/$name.pid")) alive but not ready after 30 s; see .logs/$name.log" >&2
  exit 1
}

up() {
  bash scripts/ensure-build.sh
  ensure_key ADMIN_API_KEY admin-key 'control-plane calls'
  ensure_key FEEDBACK_API_KEY feedback-key 'POST /v1/feedback calls'
  ensure_key FEEDBACK_TOKEN_SECRET feedback-token-secret 'the routers' 'sign and check feedback tokens with it'
  bash scripts/infra.sh up
  mkdir -p "$PIDS"
  for entry in "${SERVICES[@]}"; do
    IFS=: read -r name port main grpc <<<"$entry"
    if settle "$name" "$port" "$main"; then echo "[stack] $name already running (pid $(cat "$PIDS/$name.pid"))"; continue; fi
    rm -f "$PIDS/$name.pid"
    # A dead process's port frees at once; anyone else's answer means a clash to report, not to race.
    for _ in $(seq 1 20); do port_taken "$port" || break; sleep 0.25; done
    port_taken "$port" && { echo "[stack] port $port for $name is taken by another process; set its *_PORT variable" >&2; exit 1; }
    [[ -n $grpc ]] && port_taken "$grpc" && { echo "[stack] gRPC port $grpc for $name is taken by another process; set its *_GRPC_PORT variable" >&2; exit 1; }
    PORT=$port nohup env ${grpc:+GRPC_PORT=$grpc} node "$main" >>"$LOGS/$name.log" 2>&1 &
    echo $! >"$PIDS/$name.pid"
    echo "[stack] started $name on :$port${grpc:+ (gRPC :$grpc)} (log .logs/$name.log)"
  done
  for entry in "${SERVICES[@]}"; do
    IFS=: read -r name port main _ <<<"$entry"
    for _ in $(seq 1 120); do
      ready "$port" && break
      alive "$name" "$main" || { echo "[stack] $name exited; last lines of .logs/$name.log:" >&2; tail -n 20 "$LOGS/$name.log" >&2; exit 1; }
      sleep 0.5
    done
    ready "$port" || { echo "[stack] $name not ready after 60 s; see .logs/$name.log" >&2; exit 1; }
    echo "[stack] $name ready"
  done
}

down() {
  for entry in "${SERVICES[@]}"; do
    IFS=: read -r name _ main _ <<<"$entry"
    alive "$name" "$main" || { rm -f "$PIDS/$name.pid"; continue; }
    pid=$(cat "$PIDS/$name.pid")
    kill -TERM "$pid"
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && { echo "[stack] $name did not stop in 20 s; killing"; kill -KILL "$pid"; }
    rm -f "$PIDS/$name.pid"
    echo "[stack] stopped $name"
  done
  bash scripts/infra.sh down
}

status() {
  for entry in "${SERVICES[@]}"; do
    IFS=: read -r name port main _ <<<"$entry"
    if alive "$name" "$main"; then state="pid $(cat "$PIDS/$name.pid"), $(ready "$port" && echo ready || echo 'not ready')"; else state=stopped; fi
    echo "$name :$port $state"
  done
  bash scripts/infra.sh status || true
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
