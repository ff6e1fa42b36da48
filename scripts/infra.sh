#!/usr/bin/env bash
# Brings up the infrastructure Switchyard needs locally and in CI: a real Apache
# Kafka broker (single-node KRaft, run from Maven Central jars, no Docker) and
# Redis, a single server or a 3-master Redis Cluster. Idempotent: services that already answer are left alone, and `down`
# stops only what `up` started. All state lives in <repo>/.infra/ (git-ignored).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/infra.sh <command>

Commands:
  up             Start Redis and Kafka unless they already answer (idempotent);
                 a Redis Cluster when REDIS_URL is a redis+cluster:// URL.
  down           Stop whatever `up` or `redis-cluster` started; leaves services
                 it did not start.
  status         Report whether Kafka and Redis answer; exit 0 only if both do.
  kafka          Like up, for Kafka only.
  brokers        Print the local broker list (KAFKA_BROKERS for a KAFKA_NODES cluster).
  redis-cluster  Like up, for the local 3-master Redis Cluster only (whatever
                 REDIS_URL says); the tests run the store tests against it.
  redis-cluster-url
                 Print that cluster's REDIS_URL.
  --help         Show this help.

Environment:
  REDIS_URL              redis://[user:pass@]host:port  (default redis://127.0.0.1:6379),
                         or redis+cluster://host:port[,host:port...] for a cluster
  REDIS_CLUSTER_PORT     first port of the local Redis Cluster (default: the first
                         port of a redis+cluster:// REDIS_URL, else 7001); master n
                         listens on REDIS_CLUSTER_PORT + n - 1, its cluster bus 10000 up
  KAFKA_BROKERS          host:port[,host:port...]; if one answers, Kafka is not started
  KAFKA_PORT             local broker port             (default 9092); node n of a
                         cluster listens on KAFKA_PORT + n - 1
  KAFKA_CONTROLLER_PORT  local KRaft controller port   (default 9093; on a cluster
                         KAFKA_PORT + 100, node n on + n - 1)
  KAFKA_NODES            1 (default) or 3: a KRaft cluster of that many nodes, each
                         broker and controller, topics replicated 3 times with
                         min.insync.replicas 2; nodes not running are started
  KAFKA_HEAP_OPTS        broker heap                    (default "-Xms256m -Xmx1g";
                         "-Xms128m -Xmx512m" per node of a cluster)
  KAFKA_START_TIMEOUT    seconds to wait for the broker (default 90)
  KAFKA_STOP_TIMEOUT     seconds before SIGKILL on down (default 30)

Files: .infra/kafka/kafka.log (broker log), .infra/kafka/data (KRaft log dir),
       .infra/redis/redis.log (only when this script started Redis);
       the Redis Cluster: .infra/redis-cluster-<REDIS_CLUSTER_PORT>/node-<port>/
       {redis.log,redis.pid,nodes.conf};
       a cluster: .infra/kafka-<KAFKA_PORT>/node-<n>/{kafka.log,kafka.pid,data}.
EOF
}

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
INFRA_DIR=$REPO_ROOT/.infra
KAFKA_SRC=$REPO_ROOT/infra/kafka
# The jar cache is shared by every node and cluster of this checkout.
KAFKA_LIBS=$INFRA_DIR/kafka/libs
REDIS_DIR=$INFRA_DIR/redis
# Written by redis-server itself, and only when this script started it: it is
# the marker that tells `down` the Redis instance is ours to stop.
REDIS_PID=$REDIS_DIR/redis.pid

KAFKA_NODES=${KAFKA_NODES:-1}
[[ $KAFKA_NODES =~ ^[1-9]$ ]] || { echo "[infra] ERROR: KAFKA_NODES must be 1-9, got '$KAFKA_NODES'" >&2; exit 2; }
KAFKA_PORT=${KAFKA_PORT:-9092}
if ((KAFKA_NODES == 1)); then
  KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
  KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}
  CLUSTER_DIR=$INFRA_DIR/kafka
else
  KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 100))}
  KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}
  CLUSTER_DIR=$INFRA_DIR/kafka-$KAFKA_PORT
fi
KAFKA_START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}
KAFKA_STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}
LOCAL_KAFKA=127.0.0.1:$KAFKA_PORT
# A cluster of 3 or more keeps 3 replicas of everything, 2 in sync for a write.
KAFKA_REPLICATION=1
KAFKA_MIN_ISR=1
((KAFKA_NODES >= 3)) && KAFKA_REPLICATION=3 && KAFKA_MIN_ISR=2

# Per node n (1-based): its directory (config, pid, log, data), port and controller port.
# A single node keeps the historical layout, .infra/kafka/{data,kafka.pid,kafka.log}.
node_dir() { if ((KAFKA_NODES == 1)); then echo "$CLUSTER_DIR"; else echo "$CLUSTER_DIR/node-$1"; fi; }
node_port() { echo $((KAFKA_PORT + $1 - 1)); }
node_controller_port() { echo $((KAFKA_CONTROLLER_PORT + $1 - 1)); }
quorum_voters() {
  local n voters=
  for ((n = 1; n <= KAFKA_NODES; n++)); do voters+="${voters:+,}$n@127.0.0.1:$(node_controller_port "$n")"; done
  echo "$voters"
}

# host and port from REDIS_URL (scheme, credentials and db index stripped); of a
# cluster URL, those of the first node listed.
redis_addr=${REDIS_URL:-redis://127.0.0.1:6379}
REDIS_IS_CLUSTER=false
[[ $redis_addr == redis+cluster://* || $redis_addr == rediss+cluster://* ]] && REDIS_IS_CLUSTER=true
redis_addr=${redis_addr#*://}
redis_addr=${redis_addr##*@}
redis_addr=${redis_addr%%/*}
redis_addr=${redis_addr%%,*}
REDIS_HOST=${redis_addr%%:*}
REDIS_PORT=6379
[[ $redis_addr == *:* ]] && REDIS_PORT=${redis_addr##*:}
if $REDIS_IS_CLUSTER; then REDIS_CLUSTER_PORT=${REDIS_CLUSTER_PORT:-$REDIS_PORT}; else REDIS_CLUSTER_PORT=${REDIS_CLUSTER_PORT:-7001}; fi
[[ $REDIS_CLUSTER_PORT =~ ^[0-9]+$ ]] && ((REDIS_CLUSTER_PORT >= 1 && REDIS_CLUSTER_PORT <= 55533)) ||
  { echo "[infra] ERROR: REDIS_CLUSTER_PORT must be 1-55533 (its bus ports are 10000 up), got '$REDIS_CLUSTER_PORT'" >&2; exit 2; }
REDIS_CLUSTER_MASTERS=3
REDIS_CLUSTER_DIR=$INFRA_DIR/redis-cluster-$REDIS_CLUSTER_PORT

log() { printf '[infra] %s\n' "$*"; }
die() { printf '[infra] ERROR: %s\n' "$*" >&2; exit 1; }

# Installs a missing Debian package (machines and CI run as root; no sudo).
apt_updated=false
ensure_command() {
  local cmd=$1 pkg=$2
  command -v "$cmd" >/dev/null && return
  [[ $(id -u) -eq 0 ]] || die "'$cmd' is missing; install the Debian package '$pkg'."
  log "Installing $pkg (provides $cmd)..."
  if ! $apt_updated; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=true
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
}

# True if pid $1 is alive and its command line contains $2, so a stale pid file
# whose number the kernel has since reused never gets someone else killed.
pid_is() {
  local pid=$1 needle=$2
  [[ -n $pid && -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$needle"
}

read_pid() { if [[ -f $1 ]]; then cat "$1"; fi; }

now_ms() { local us=${EPOCHREALTIME/./}; echo $((us / 1000)); }

# SIGTERM, then SIGKILL if the process outlives $2 seconds.
stop_pid() {
  local pid=$1 timeout=$2 waited=0
  kill -TERM "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null; do
    if ((waited >= timeout * 10)); then
      log "pid $pid still running after ${timeout}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
}

# --- Redis -------------------------------------------------------------------

redis_answers() {
  local reply
  if command -v redis-cli >/dev/null; then
    if [[ -n ${REDIS_URL:-} ]]; then
      reply=$(timeout 3 redis-cli -u "$REDIS_URL" ping 2>/dev/null) || return 1
    else
      reply=$(timeout 3 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null) || return 1
    fi
  else
    # No client installed: speak RESP directly over bash's /dev/tcp.
    # shellcheck disable=SC2016 # $1/$2 expand in the inner shell
    reply=$(timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2" && printf "PING\r\n" >&3 && head -c 5 <&3' \
      _ "$REDIS_HOST" "$REDIS_PORT" 2>/dev/null) || return 1
  fi
  [[ $reply == *PONG* ]]
}

redis_up() {
  if redis_answers; then
    log "Redis: answering on $REDIS_HOST:$REDIS_PORT (left as is)"
    return
  fi
  [[ $REDIS_HOST == 127.0.0.1 || $REDIS_HOST == localhost ]] ||
    die "Redis at $REDIS_HOST:$REDIS_PORT does not answer, and only a local one can be started."
  ensure_command redis-server redis-server
  mkdir -p "$REDIS_DIR"
  # Throwaway cache/stream store for dev and tests: no persistence to disk.
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" \
    --save '' --appendonly no --dir "$REDIS_DIR" \
    --pidfile "$REDIS_PID" --logfile "$REDIS_DIR/redis.log" 9>&-
  local i
  for ((i = 0; i < 50; i++)); do
    redis_answers && { log "Redis: started on 127.0.0.1:$REDIS_PORT (log: $REDIS_DIR/redis.log)"; return; }
    sleep 0.1
  done
  die "Redis did not answer within 5s; see $REDIS_DIR/redis.log"
}

redis_down() {
  local pid
  pid=$(read_pid "$REDIS_PID")
  if pid_is "$pid" redis-server; then
    stop_pid "$pid" 10
    log "Redis: stopped (pid $pid)"
  else
    log "Redis: no server started by this script is running; nothing to stop"
  fi
  rm -f "$REDIS_PID"
}

# --- Redis Cluster -----------------------------------------------------------
# Three masters, no replicas: enough to spread slots over several nodes, so a key
# layout or a multi-key command that would break on a real cluster breaks here.

cluster_node_port() { echo $((REDIS_CLUSTER_PORT + $1 - 1)); }
cluster_node_dir() { echo "$REDIS_CLUSTER_DIR/node-$(cluster_node_port "$1")"; }
cluster_nodes() {
  local n list=
  for ((n = 1; n <= REDIS_CLUSTER_MASTERS; n++)); do list+="${list:+,}127.0.0.1:$(cluster_node_port "$n")"; done
  echo "$list"
}

# Field $2 of `CLUSTER INFO` from the server redis-cli reaches with the arguments
# before it (empty when it does not answer or has cluster support disabled).
cluster_info() {
  local field=${*: -1}
  timeout 3 redis-cli "${@:1:$#-1}" cluster info 2>/dev/null | tr -d '\r' | sed -n "s/^$field://p"
}

local_node_pings() { [[ $(timeout 3 redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null) == PONG ]]; }

local_cluster_ok() {
  local n
  for ((n = 1; n <= REDIS_CLUSTER_MASTERS; n++)); do
    [[ $(cluster_info -h 127.0.0.1 -p "$(cluster_node_port "$n")" cluster_state) == ok ]] || return 1
  done
}

# The first node of a redis+cluster:// REDIS_URL as a plain redis:// URL, for redis-cli.
seed_url() { local url=${REDIS_URL/+cluster:\/\//:\/\/}; echo "${url%%,*}"; }

redis_cluster_up() {
  ensure_command redis-server redis-server
  ensure_command redis-cli redis-tools
  if local_cluster_ok; then
    log "Redis Cluster: answering on $(cluster_nodes) (left as is)"
    return
  fi
  local n port dir i start
  start=$(now_ms)
  for ((n = 1; n <= REDIS_CLUSTER_MASTERS; n++)); do
    port=$(cluster_node_port "$n")
    dir=$(cluster_node_dir "$n")
    if local_node_pings "$port"; then
      [[ -n $(cluster_info -h 127.0.0.1 -p "$port" cluster_state) ]] ||
        die "port $port answers as a Redis without cluster mode; choose another REDIS_CLUSTER_PORT"
      continue
    fi
    mkdir -p "$dir"
    # A throwaway cache like the single Redis: nothing on disk but the node's own
    # cluster config (nodes.conf), which lets a restarted node rejoin by itself.
    redis-server --daemonize yes --bind 127.0.0.1 --port "$port" \
      --cluster-enabled yes --cluster-config-file "$dir/nodes.conf" --cluster-node-timeout 5000 \
      --save '' --appendonly no --dir "$dir" \
      --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" 9>&-
  done
  for ((n = 1; n <= REDIS_CLUSTER_MASTERS; n++)); do
    port=$(cluster_node_port "$n")
    for ((i = 0; i < 50; i++)); do local_node_pings "$port" && break; sleep 0.1; done
    local_node_pings "$port" || die "Redis Cluster node on port $port did not answer within 5s; see $(cluster_node_dir "$n")/redis.log"
  done
  # Slots are assigned once, by `create`; nodes restarted from their nodes.conf keep theirs.
  if [[ $(cluster_info -h 127.0.0.1 -p "$REDIS_CLUSTER_PORT" cluster_slots_assigned) == 0 ]]; then
    # shellcheck disable=SC2046 # one argument per node
    redis-cli --cluster create $(cluster_nodes | tr ',' ' ') --cluster-replicas 0 --cluster-yes \
      >"$REDIS_CLUSTER_DIR/create.log" 2>&1 ||
      { cat "$REDIS_CLUSTER_DIR/create.log" >&2; die "redis-cli --cluster create failed (see above)"; }
  fi
  for ((i = 0; i < 300; i++)); do
    if local_cluster_ok; then
      local took=$(($(now_ms) - start))
      log "Redis Cluster: ready on $(cluster_nodes) after $((took / 1000)).$((took % 1000 / 100))s (REDIS_URL=$(redis_cluster_url))"
      return
    fi
    sleep 0.1
  done
  die "Redis Cluster on $(cluster_nodes) is not ok after 30s (logs: $REDIS_CLUSTER_DIR); 'down' with this REDIS_CLUSTER_PORT, then up again, starts it afresh"
}

redis_cluster_url() { echo "redis+cluster://$(cluster_nodes)"; }

# Stops the nodes this script started and forgets their cluster config, so the
# next `up` creates a fresh cluster.
redis_cluster_down() {
  local n dir pid stopped=0
  for ((n = 1; n <= REDIS_CLUSTER_MASTERS; n++)); do
    dir=$(cluster_node_dir "$n")
    pid=$(read_pid "$dir/redis.pid")
    if pid_is "$pid" "127.0.0.1:$(cluster_node_port "$n")"; then
      stop_pid "$pid" 10
      stopped=$((stopped + 1))
    fi
    # A node still answering is not ours (its pid file is not here): its config stays.
    local_node_pings "$(cluster_node_port "$n")" || rm -rf "$dir"
  done
  [[ -z $(find "$REDIS_CLUSTER_DIR" -name 'node-*' 2>/dev/null) ]] && rm -rf "$REDIS_CLUSTER_DIR"
  if ((stopped)); then
    log "Redis Cluster: stopped $stopped node(s) on $(cluster_nodes)"
  else
    log "Redis Cluster: no node started by this script is running on $(cluster_nodes); nothing to stop"
  fi
}

# `up` with a redis+cluster:// REDIS_URL: a remote cluster must answer, a local one is started.
redis_url_cluster_up() {
  if [[ $REDIS_HOST == 127.0.0.1 || $REDIS_HOST == localhost ]]; then
    redis_cluster_up
  elif [[ $(cluster_info -u "$(seed_url)" cluster_state) == ok ]]; then
    log "Redis Cluster: answering on $REDIS_HOST:$REDIS_PORT (left as is)"
  else
    die "Redis Cluster at $REDIS_HOST:$REDIS_PORT does not answer ok, and only a local one can be started."
  fi
}

# --- Kafka -------------------------------------------------------------------

# Sends a Kafka ApiVersions v0 request (api_key 18, correlation id 42, client id
# "infr") over bash's /dev/tcp and checks the reply carries correlation id 42
# and error code 0. This proves a Kafka broker (not just any listener) answers,
# in milliseconds and without starting a JVM.
kafka_answers() {
  local host=${1%:*} port=${1##*:} reply
  # shellcheck disable=SC2016 # $1/$2 expand in the inner shell
  reply=$(timeout 3 bash -c '
    exec 3<>"/dev/tcp/$1/$2" || exit 1
    printf "\x00\x00\x00\x0e\x00\x12\x00\x00\x00\x00\x00\x2a\x00\x04infr" >&3
    head -c 10 <&3 | od -An -v -tx1 | tr -d " \n"' _ "$host" "$port" 2>/dev/null) || return 1
  # 4-byte length, then correlation id 0x0000002a, then error code 0x0000.
  [[ $reply == ????????0000002a0000 ]]
}

# First address in KAFKA_BROKERS (or the local broker) that answers.
kafka_reachable() {
  local addr brokers=${KAFKA_BROKERS:-}
  for addr in ${brokers//,/ } "$LOCAL_KAFKA"; do
    kafka_answers "$addr" && { echo "$addr"; return 0; }
  done
  return 1
}

# Runs a Kafka CLI class from the cached jars. Small heap, serial GC and C1 only:
# these JVMs live for a second or two, so startup time is all that matters.
kafka_tool() {
  java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dlog4j2.configurationFile="$KAFKA_SRC/log4j2.properties" -Dkafka.log.level=WARN \
    -cp "$KAFKA_LIBS/*" "$@"
}

# The jar cache is keyed on the pom's checksum so bumping the Kafka version in
# infra/kafka/pom.xml refetches instead of running stale jars.
fetch_kafka_jars() {
  local stamp want
  stamp=$KAFKA_LIBS/.pom.sha256
  want=$(sha256sum "$KAFKA_SRC/pom.xml" | cut -d' ' -f1)
  [[ -f $stamp && $(cat "$stamp") == "$want" ]] && return
  ensure_command mvn maven
  log "Kafka: fetching broker jars from Maven Central into $KAFKA_LIBS (first run only, ~45 MB)..."
  mkdir -p "$INFRA_DIR/kafka"
  # Fetch into a temp dir and swap it in, so an interrupted download is never
  # mistaken for a complete cache.
  rm -rf "$KAFKA_LIBS.tmp"
  # Output goes to a file: with -q it holds only errors, plus stray ANSI resets
  # that Debian's Maven prints even in batch mode.
  mvn -B -q -f "$KAFKA_SRC/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$KAFKA_LIBS.tmp" >"$INFRA_DIR/kafka/maven.log" 2>&1 ||
    { cat "$INFRA_DIR/kafka/maven.log" >&2; die "Maven could not fetch the Kafka jars (see above)"; }
  echo "$want" >"$KAFKA_LIBS.tmp/.pom.sha256"
  rm -rf "$KAFKA_LIBS"
  mv "$KAFKA_LIBS.tmp" "$KAFKA_LIBS"
  log "Kafka: $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars cached"
}

write_kafka_config() {
  local n=$1 dir
  dir=$(node_dir "$n")
  mkdir -p "$dir"
  sed -e "s|@KAFKA_PORT@|$(node_port "$n")|g" \
    -e "s|@KAFKA_CONTROLLER_PORT@|$(node_controller_port "$n")|g" \
    -e "s|@KAFKA_DATA_DIR@|$dir/data|g" \
    -e "s|@NODE_ID@|$n|g" \
    -e "s|@QUORUM_VOTERS@|$(quorum_voters)|g" \
    -e "s|@REPLICATION@|$KAFKA_REPLICATION|g" \
    -e "s|@MIN_ISR@|$KAFKA_MIN_ISR|g" \
    "$KAFKA_SRC/server.properties" >"$dir/server.properties"
}

# KRaft refuses to start on an unformatted log dir. Formatting again would
# mint a new cluster id and orphan the existing data, so only do it once; the
# nodes of a cluster share one id, kept beside them.
format_kafka_storage() {
  local n=$1 dir cluster_id
  dir=$(node_dir "$n")
  [[ -f $dir/data/meta.properties ]] && return
  if [[ -f $CLUSTER_DIR/cluster.id ]]; then
    cluster_id=$(cat "$CLUSTER_DIR/cluster.id")
  else
    cluster_id=$(kafka_tool kafka.tools.StorageTool random-uuid)
    echo "$cluster_id" >"$CLUSTER_DIR/cluster.id"
  fi
  log "Kafka: formatting $dir/data (cluster id $cluster_id, node $n)"
  kafka_tool kafka.tools.StorageTool format \
    --cluster-id "$cluster_id" --config "$dir/server.properties" >/dev/null
}

start_kafka() {
  local n=$1 dir
  dir=$(node_dir "$n")
  # Keep the previous run's log for post-mortems of a crash.
  [[ -f $dir/kafka.log ]] && mv -f "$dir/kafka.log" "$dir/kafka.log.prev"
  # setsid + nohup: the broker must outlive this script and the terminal or CI
  # step that ran it, and must not receive their Ctrl-C / SIGHUP.
  # shellcheck disable=SC2086 # KAFKA_HEAP_OPTS holds several JVM flags
  setsid nohup java $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$KAFKA_SRC/log4j2.properties" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$dir/server.properties" \
    </dev/null >"$dir/kafka.log" 2>&1 9>&- &
  echo $! >"$dir/kafka.pid"
  log "Kafka: starting node $n on 127.0.0.1:$(node_port "$n") (pid $!, log: $dir/kafka.log)"
}

# Ready means the broker is registered and unfenced, i.e. it can host topics.
# Kafka 4.3 opens the client listener only after unfencing, so the cheap probe
# nearly proves it; the metadata check (~0.6s) makes it a fact rather than an
# assumption about broker internals that may change between versions.
wait_for_kafka() {
  local n=$1 dir pid addr start deadline
  dir=$(node_dir "$n")
  pid=$(read_pid "$dir/kafka.pid")
  addr=127.0.0.1:$(node_port "$n")
  start=$(now_ms)
  deadline=$((start + KAFKA_START_TIMEOUT * 1000))
  until kafka_answers "$addr"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      # The first errors (each with its exception line) name the cause; the
      # log's tail is only shutdown noise. No ERROR at all means the JVM
      # itself failed, and then the tail is the whole story.
      grep -m 6 -A 1 -E '\] (ERROR|FATAL) ' "$dir/kafka.log" >&2 || tail -n 20 "$dir/kafka.log" >&2
      die "Kafka exited during startup; full log: $dir/kafka.log"
    fi
    (($(now_ms) < deadline)) ||
      die "Kafka did not answer on $addr within ${KAFKA_START_TIMEOUT}s; log: $dir/kafka.log"
    sleep 0.25
  done
  until kafka_tool org.apache.kafka.tools.BrokerApiVersionsCommand \
    --bootstrap-server "$addr" 2>/dev/null | grep -q "^$addr (.*isFenced: false"; do
    (($(now_ms) < deadline)) ||
      die "Kafka answered but never registered within ${KAFKA_START_TIMEOUT}s; log: $dir/kafka.log"
    sleep 1
  done
  local took=$(($(now_ms) - start))
  log "Kafka: node $n ready on $addr after $((took / 1000)).$((took % 1000 / 100))s"
}

kafka_up() {
  local addr pid n started=()
  if ((KAFKA_NODES == 1)); then
    if addr=$(kafka_reachable); then
      log "Kafka: answering on $addr (left as is)"
      return
    fi
    [[ -n ${KAFKA_BROKERS:-} ]] &&
      log "Kafka: KAFKA_BROKERS=$KAFKA_BROKERS does not answer; starting a local broker on $LOCAL_KAFKA"
  fi
  mkdir -p "$CLUSTER_DIR"
  # Every node not running is started before any is waited for: a cluster's
  # brokers register only once a majority of its controllers is up.
  for ((n = 1; n <= KAFKA_NODES; n++)); do
    pid=$(read_pid "$(node_dir "$n")/kafka.pid")
    # A node of ours may still be starting (or be wedged): wait for it rather
    # than start a second one that would fight it for the ports and log dir.
    if pid_is "$pid" "$(node_dir "$n")/server.properties"; then
      started+=("$n")
      continue
    fi
    if ((KAFKA_NODES > 1)) && kafka_answers "127.0.0.1:$(node_port "$n")"; then
      die "port $(node_port "$n") (node $n) answers as Kafka but is not a node of $CLUSTER_DIR; choose another KAFKA_PORT"
    fi
    ensure_command java openjdk-17-jre-headless
    fetch_kafka_jars
    write_kafka_config "$n"
    format_kafka_storage "$n"
    start_kafka "$n"
    started+=("$n")
  done
  for n in "${started[@]}"; do wait_for_kafka "$n"; done
  ((KAFKA_NODES == 1)) || log "Kafka: cluster of $KAFKA_NODES on $(kafka_brokers_list) (replication $KAFKA_REPLICATION, min.insync.replicas $KAFKA_MIN_ISR)"
}

kafka_brokers_list() {
  local n list=
  for ((n = 1; n <= KAFKA_NODES; n++)); do list+="${list:+,}127.0.0.1:$(node_port "$n")"; done
  echo "$list"
}

kafka_down() {
  local n pid dir
  for ((n = 1; n <= KAFKA_NODES; n++)); do
    dir=$(node_dir "$n")
    pid=$(read_pid "$dir/kafka.pid")
    if pid_is "$pid" "$dir/server.properties"; then
      log "Kafka: stopping node $n (pid $pid)..."
      stop_pid "$pid" "$KAFKA_STOP_TIMEOUT"
      log "Kafka: stopped node $n"
    else
      log "Kafka: node $n was not started by this script or is not running; nothing to stop"
    fi
    rm -f "$dir/kafka.pid"
  done
}

# --- Commands ----------------------------------------------------------------

status() {
  local ok=0 addr n
  if ((KAFKA_NODES > 1)); then
    for ((n = 1; n <= KAFKA_NODES; n++)); do
      if kafka_answers "127.0.0.1:$(node_port "$n")"; then log "Kafka: node $n up (127.0.0.1:$(node_port "$n"))"; else log "Kafka: node $n DOWN (127.0.0.1:$(node_port "$n"))"; ok=1; fi
    done
  elif addr=$(kafka_reachable); then
    log "Kafka: up ($addr)"
  else
    log "Kafka: DOWN (${KAFKA_BROKERS:-$LOCAL_KAFKA})"
    ok=1
  fi
  if $REDIS_IS_CLUSTER; then
    if [[ $(cluster_info -u "$(seed_url)" cluster_state) == ok ]]; then
      log "Redis Cluster: up ($REDIS_HOST:$REDIS_PORT)"
    else
      log "Redis Cluster: DOWN or not ok ($REDIS_HOST:$REDIS_PORT)"
      ok=1
    fi
  elif redis_answers; then
    log "Redis: up ($REDIS_HOST:$REDIS_PORT)"
  else
    log "Redis: DOWN ($REDIS_HOST:$REDIS_PORT)"
    ok=1
  fi
  return $ok
}

# Serialises up/down: parallel test jobs may all call `up` at once, and only one
# of them should fetch jars, format storage and start the broker. The servers
# are started with fd 9 closed so they don't hold this lock after we exit.
take_lock() {
  mkdir -p "$INFRA_DIR"
  exec 9>"$INFRA_DIR/.lock"
  flock 9
}

case ${1:-} in
  up)
    take_lock
    if $REDIS_IS_CLUSTER; then redis_url_cluster_up; else redis_up; fi
    kafka_up
    ;;
  kafka) take_lock; kafka_up ;;
  brokers) kafka_brokers_list ;;
  redis-cluster) take_lock; redis_cluster_up ;;
  redis-cluster-url) redis_cluster_url ;;
  down) take_lock; kafka_down; redis_down; redis_cluster_down ;;
  status) status ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
