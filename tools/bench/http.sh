#!/usr/bin/env bash
# HTTP decision benchmarks for entitled (issue 3, "Benchmarks" and "Targets").
#
#   bash tools/bench/http.sh                      # small tenant on SQLite
#   bash tools/bench/http.sh --postgres           # small tenant on PostgreSQL
#   bash tools/bench/http.sh --postgres --large   # ... then the 10,000 × 200 tenant
#
# One run, one load generator, same machine, side by side with the same
# concurrency and duration:
#   (a) GraphQL allowed            POST /graphql
#   (b) the OPA-compatible door    POST /v1/data/entitled/decision
#   (c) the stock OPA server       POST /v1/data/entitled/decision
#       (opa run --server policy/rego, fed pre-built policy input documents)
# first at peak (closed loop, -c workers), then each open loop at half of its
# own measured peak, reporting p99. --large then seeds a fresh PostgreSQL
# database with 10,000 instances × 200 entitlements and measures the door's
# p99 at the small tenant's half-peak door rate, on random instance ×
# entitlement pairs after warming the fact cache, alternating with the small
# tenant.
#
# Options: --postgres, --large (implies --postgres), --duration 10s,
# --concurrency 16, --rounds 2 (peak runs, interleaved; the table shows the
# mean and the rounds), --instances/--entitlements (small tenant), --keep (keep
# the work directory). Needs Go, and for --postgres a server at
# 127.0.0.1:5432 (user postgres, trust auth; override with BENCH_PG_URL,
# e.g. postgres://postgres@127.0.0.1:5432). Every process it starts and
# every database it creates is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

BACKEND=sqlite
LARGE=0
DUR=10s
C=16
ROUNDS=2
WARM=2s
SMALL_INST=50
SMALL_ENT=20
LARGE_INST=10000
LARGE_ENT=200
KEEP=0
ENT_PORT=${BENCH_ENTITLED_PORT:-18080}
ENT_PORT_LARGE=$((ENT_PORT + 1))
OPA_ADDR=127.0.0.1:8181
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}

while [ $# -gt 0 ]; do
  case "$1" in
    --postgres) BACKEND=postgres ;;
    --large) LARGE=1; BACKEND=postgres ;;
    --duration) DUR=$2; shift ;;
    --concurrency) C=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --instances) SMALL_INST=$2; shift ;;
    --entitlements) SMALL_ENT=$2; shift ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/entitled-bench.XXXXXX")
PIDS=()
DBS=()

cleanup() {
  local rc=$?
  set +e
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  for db in "${DBS[@]}"; do
    psql "$PG_URL/postgres?sslmode=disable" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
  done
  if [ "$KEEP" = 1 ] || [ $rc -ne 0 ]; then
    echo "work directory (logs, bodies): $WORK" >&2
  else
    rm -rf "$WORK"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '>>> %s\n' "$*" >&2; }
die() { echo "tools/bench/http.sh: $*" >&2; exit 1; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$ENT_PORT" "$ENT_PORT_LARGE" "${OPA_ADDR##*:}"; do
  port_busy "$p" && die "port $p on 127.0.0.1 is in use (set BENCH_ENTITLED_PORT for entitled's)"
done

# --- build ----------------------------------------------------------------
export PATH="$(go env GOPATH)/bin:$PATH"
log "building entitled, loadgen, seed"
mkdir -p "$WORK/bin"
go build -o "$WORK/bin/entitled" .
go build -o "$WORK/bin/loadgen" ./tools/loadgen
go build -o "$WORK/bin/seed" ./tools/seed
OPA="$(go env GOPATH)/bin/opa"
if ! [ -x "$OPA" ] || ! "$OPA" version 2>/dev/null | grep -q 'Version: 1.22.3'; then
  log "installing the stock OPA CLI v1.22.3"
  GOFLAGS= go install github.com/open-policy-agent/opa@v1.22.3
fi

# --- helpers --------------------------------------------------------------
# start_entitled NAME PORT DATABASE_URL: starts entitled, sets KEY and ENT_PID.
start_entitled() {
  local name=$1 port=$2 db=$3
  ENTITLED_ADDR=127.0.0.1:$port ENTITLED_DATABASE_URL=$db ENTITLED_MASTER_KEY=${ENTITLED_MASTER_KEY:-ZW50aXRsZWQtaGFybmVzcy1tYXN0ZXIta2V5LTMyYnk=} ENTITLED_LOG_LEVEL=WARN \
    "$WORK/bin/entitled" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  ENT_PID=$!
  PIDS+=("$ENT_PID")
  KEY=""
  for _ in $(seq 1 150); do
    KEY=$(grep -o 'etk_[A-Za-z0-9_]*' "$WORK/$name.out" 2>/dev/null | head -1 || true)
    if [ -n "$KEY" ] && curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then return 0; fi
    kill -0 "$ENT_PID" 2>/dev/null || { cat "$WORK/$name.err" >&2; die "entitled ($name) exited"; }
    sleep 0.2
  done
  die "entitled ($name) did not start"
}

stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

create_pg_db() {
  local db=$1
  command -v psql >/dev/null || die "psql is needed for --postgres"
  psql "$PG_URL/postgres?sslmode=disable" -qc "CREATE DATABASE $db" >/dev/null \
    || die "cannot create database $db on $PG_URL (is PostgreSQL running?)"
  DBS+=("$db")
}

# field KEY LINE: a key=value field of a loadgen line, without unit.
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2" | sed 's/ms$//'; }

# run_lg LABEL ARGS...: runs loadgen, echoes its line to stderr, prints it.
run_lg() {
  local label=$1; shift
  local line
  line=$("$WORK/bin/loadgen" -name "$label" -c "$C" -expect '"allowed"' "$@")
  echo "    $line" >&2
  printf '%s\n' "$line"
}

# mean KEY LINES...: the mean of a field over loadgen lines.
mean() {
  local k=$1; shift
  local l
  for l in "$@"; do field "$k" "$l"; done | awk '{ s += $1; n++ } END { if (n) printf (s / n >= 100 ? "%.0f" : "%.3f"), s / n }'
}
# list KEY LINES...: the field's values, comma-separated.
list() {
  local k=$1; shift
  local l
  for l in "$@"; do field "$k" "$l"; done | paste -sd, - | sed 's/,/, /g'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "-" }'; }
half() { awk -v a="$1" 'BEGIN { printf "%d", a / 2 }'; }

# --- environment ----------------------------------------------------------
log "work directory $WORK"
{
  echo "machine: $(nproc) cores, $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), load average before start:$(cut -d' ' -f1-3 /proc/loadavg | sed 's/^/ /')"
  echo "entitled: $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- . ':!bench' 2>/dev/null || echo ' + uncommitted changes')"
  echo "go: $(go version | cut -d' ' -f3-), opa: $("$OPA" version | sed -n 's/^Version: //p'), backend: $BACKEND, concurrency $C, duration $DUR per run"
} | tee "$WORK/env.txt" >&2

# --- stock OPA --------------------------------------------------------------
"$OPA" run --server --addr "$OPA_ADDR" --log-level error "$ROOT/policy/rego" >"$WORK/opa.log" 2>&1 &
OPA_PID=$!
PIDS+=("$OPA_PID")

# --- small tenant -----------------------------------------------------------
if [ "$BACKEND" = postgres ]; then
  SMALL_DB=entitled_bench_$$_small
  create_pg_db "$SMALL_DB"
  SMALL_URL="$PG_URL/$SMALL_DB?sslmode=disable"
else
  SMALL_URL="sqlite://$WORK/small.db"
fi
log "starting entitled on $BACKEND (small tenant: $SMALL_INST instances × $SMALL_ENT entitlements)"
start_entitled small "$ENT_PORT" "$SMALL_URL"
SMALL_KEY=$KEY
"$WORK/bin/seed" -url "http://127.0.0.1:$ENT_PORT" -key "$SMALL_KEY" \
  -entitlements "$SMALL_ENT" -instances "$SMALL_INST" -pairs 2000 -out "$WORK/small"
for _ in $(seq 1 50); do curl -fs "http://$OPA_ADDR/health" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fs "http://$OPA_ADDR/health" >/dev/null || die "stock OPA did not start: $(cat "$WORK/opa.log")"

GQL_URL="http://127.0.0.1:$ENT_PORT/graphql"
DOOR_URL="http://127.0.0.1:$ENT_PORT/v1/data/entitled/decision"
OPA_URL="http://$OPA_ADDR/v1/data/entitled/decision"
AUTH="Authorization: Bearer $SMALL_KEY"

declare -A HALF
declare -a PK_gql PK_door PK_opa
log "peak throughput, closed loop, c=$C, $DUR each (after $WARM warm-up), $ROUNDS interleaved rounds"
for round in $(seq 1 "$ROUNDS"); do
  PK_gql+=("$(run_lg allowed -url "$GQL_URL" -header "$AUTH" -bodies "$WORK/small/gql.jsonl" -d "$DUR" -warmup "$WARM" -warm-all)")
  PK_door+=("$(run_lg door -url "$DOOR_URL" -header "$AUTH" -bodies "$WORK/small/door.jsonl" -d "$DUR" -warmup "$WARM" -warm-all)")
  PK_opa+=("$(run_lg stock-opa -url "$OPA_URL" -bodies "$WORK/small/opa.jsonl" -d "$DUR" -warmup "$WARM" -warm-all)")
done
declare -A PEAK_RPS
PEAK_RPS[gql]=$(mean rps "${PK_gql[@]}")
PEAK_RPS[door]=$(mean rps "${PK_door[@]}")
PEAK_RPS[opa]=$(mean rps "${PK_opa[@]}")

log "latency at half of each one's mean peak, open loop, $DUR each"
HALF[gql]=$(run_lg allowed -url "$GQL_URL" -header "$AUTH" -bodies "$WORK/small/gql.jsonl" -d "$DUR" -warmup 1s -rate "$(half "${PEAK_RPS[gql]}")")
HALF[door]=$(run_lg door -url "$DOOR_URL" -header "$AUTH" -bodies "$WORK/small/door.jsonl" -d "$DUR" -warmup 1s -rate "$(half "${PEAK_RPS[door]}")")
HALF[opa]=$(run_lg stock-opa -url "$OPA_URL" -bodies "$WORK/small/opa.jsonl" -d "$DUR" -warmup 1s -rate "$(half "${PEAK_RPS[opa]}")")

TABLE="$WORK/table.md"
{
  echo
  echo "Small tenant ($SMALL_INST instances × $SMALL_ENT entitlements) on $BACKEND; c=$C; $DUR per run; peak = mean of $ROUNDS interleaved rounds."
  echo
  echo "| target | peak req/s (rounds) | vs stock OPA | p50 / p99 at peak (ms) | half-peak rate (req/s) | p50 / p99 at half peak (ms) | svc p99 at half peak (ms) | errors |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  for k in gql door opa; do
    case $k in gql) name="GraphQL \`allowed\`" ;; door) name="OPA door (ours)" ;; opa) name="stock \`opa run --server\`" ;; esac
    declare -n pk="PK_$k"
    h=${HALF[$k]}
    errs=$(for l in "${pk[@]}" "$h"; do field errors "$l"; done | awk '{ s += $1 } END { print s }')
    printf '| %s | %s (%s) | %s | %s / %s | %s | %s / %s | %s | %s |\n' "$name" \
      "${PEAK_RPS[$k]}" "$(list rps "${pk[@]}")" "$(ratio "${PEAK_RPS[$k]}" "${PEAK_RPS[opa]}")" \
      "$(mean p50 "${pk[@]}")" "$(mean p99 "${pk[@]}")" \
      "$(field rate "$h")" "$(field p50 "$h")" "$(field p99 "$h")" "$(field svc_p99 "$h")" "$errs"
    unset -n pk
  done
} >"$TABLE"

# --- large tenant -----------------------------------------------------------
if [ "$LARGE" = 1 ]; then
  RATE=$(field rate "${HALF[door]}")
  LARGE_DB=entitled_bench_$$_large
  create_pg_db "$LARGE_DB"
  log "starting entitled on postgres (large tenant: $LARGE_INST instances × $LARGE_ENT entitlements)"
  start_entitled large "$ENT_PORT_LARGE" "$PG_URL/$LARGE_DB?sslmode=disable"
  LARGE_KEY=$KEY
  SEED_START=$(date +%s)
  "$WORK/bin/seed" -url "http://127.0.0.1:$ENT_PORT_LARGE" -key "$LARGE_KEY" \
    -entitlements "$LARGE_ENT" -instances "$LARGE_INST" -batch 50 -workers 2 -pairs 20000 -out "$WORK/large"
  SEED_S=$(( $(date +%s) - SEED_START ))
  # Let PostgreSQL settle after the bulk insert before measuring.
  psql "$PG_URL/$LARGE_DB?sslmode=disable" -qc "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null 2>&1 || true
  LDOOR_URL="http://127.0.0.1:$ENT_PORT_LARGE/v1/data/entitled/decision"
  LAUTH="Authorization: Bearer $LARGE_KEY"
  log "warming the large tenant's fact cache (every pair once), then door p99 at $RATE req/s, alternating with the small tenant"
  "$WORK/bin/loadgen" -c "$C" -url "$LDOOR_URL" -header "$LAUTH" -bodies "$WORK/large/door.jsonl" -d 1s -warm-all -expect '"allowed"' >/dev/null
  declare -a LS LL
  for round in 1 2; do
    LS[$round]=$(run_lg small-door -url "$DOOR_URL" -header "$AUTH" -bodies "$WORK/small/door.jsonl" -d "$DUR" -warmup 1s -rate "$RATE")
    LL[$round]=$(run_lg large-door -url "$LDOOR_URL" -header "$LAUTH" -bodies "$WORK/large/door.jsonl" -d "$DUR" -warmup 1s -rate "$RATE")
  done
  LPEAK=$(run_lg large-door -url "$LDOOR_URL" -header "$LAUTH" -bodies "$WORK/large/door.jsonl" -d "$DUR" -warmup 1s)
  {
    echo
    echo "Large tenant ($LARGE_INST instances × $LARGE_ENT entitlements, 20,000 random pairs, seeded in ${SEED_S}s) vs small, both on postgres, OPA door, open loop at $RATE req/s (the small tenant's half-peak door rate), c=$C, $DUR per run, alternating."
    echo
    echo "| tenant | round | p50 (ms) | p99 (ms) | svc p99 (ms) | max (ms) | errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for round in 1 2; do
      for t in small large; do
        if [ $t = small ]; then l=${LS[$round]}; else l=${LL[$round]}; fi
        printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$t" "$round" "$(field p50 "$l")" "$(field p99 "$l")" "$(field svc_p99 "$l")" "$(field max "$l")" "$(field errors "$l")"
      done
    done
    s=$(awk -v a="$(field p99 "${LS[1]}")" -v b="$(field p99 "${LS[2]}")" 'BEGIN { printf "%.3f", (a + b) / 2 }')
    l=$(awk -v a="$(field p99 "${LL[1]}")" -v b="$(field p99 "${LL[2]}")" 'BEGIN { printf "%.3f", (a + b) / 2 }')
    echo
    echo "Mean p99: small $s ms, large $l ms, large/small $(ratio "$l" "$s") (target ≤ 1.20×)."
    echo "Large tenant door peak (closed loop, c=$C): $(field rps "$LPEAK") req/s, p99 $(field p99 "$LPEAK") ms (small: ${PEAK_RPS[door]} req/s)."
  } >>"$TABLE"
fi

echo
cat "$WORK/env.txt"
cat "$TABLE"
