#!/usr/bin/env bash
# Metering benchmarks on PostgreSQL, one run, same machine:
#   1. single reportUsage over HTTP vs pgbench running the bare equivalent
#      transaction (one ledger INSERT + one counter UPDATE) at the same
#      concurrency, on copies of the same tables;
#   2. reportUsageBatch ingest (1000 reports a call);
#   3. allowed on a NUMBER entitlement (usage from memory) vs BOOLEAN;
#   4. the plan of the batch idempotency-key lookup under stale statistics
#      (the ledger is analyzed while empty and autovacuum is off for it).
# Single reports run at each concurrency of -c (default "16 32"), on one
# hot counter row and spread over 8 rows, against pgbench's floor for each.
# Usage: bash tools/bench/usage.sh [-c "16 32"] [-d 10s]
set -euo pipefail
cd "$(dirname "$0")/../.."
C="16 32"; D=10s
while [ $# -gt 0 ]; do case "$1" in -c) C=$2; shift 2;; -d) D=$2; shift 2;; *) echo "unknown flag $1"; exit 2;; esac; done
PG=${ENTITLED_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}
ADDR=127.0.0.1:18181
work=$(mktemp -d)
db=entitled_bench_$$
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$PG/test" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/entitled" .
go build -o "$work/loadgen" ./tools/loadgen
psql "$PG/test" -qc "CREATE DATABASE $db"
ENTITLED_ADDR=$ADDR ENTITLED_DATABASE_URL="$PG/$db?sslmode=disable" ENTITLED_MASTER_KEY=${ENTITLED_MASTER_KEY:-ZW50aXRsZWQtaGFybmVzcy1tYXN0ZXIta2V5LTMyYnk=} ENTITLED_LOG_LEVEL=ERROR \
  "$work/entitled" > "$work/server.out" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -sf "http://$ADDR/healthz" >/dev/null && break; sleep 0.1; done
KEY=$(grep -o 'etk_[a-z0-9]*' "$work/server.out" | head -1)
gql() { curl -sf "http://$ADDR/graphql" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d "$1"; }
id() { grep -o "\"id\":\"$1_[A-Z0-9]*\"" | head -1 | cut -d'"' -f4; }
E=$(gql '{"query":"mutation { createEntitlement(input: {name: \"Events\", slug: \"events\", type: NUMBER, resetPeriod: MONTH}) { id } }"}' | id ent)
B=$(gql '{"query":"mutation { createEntitlement(input: {name: \"SSO\", slug: \"sso\", type: BOOLEAN}) { id } }"}' | id ent)
L=$(gql '{"query":"mutation { createLicense(input: {name: \"L\", slug: \"l\", type: PAID, isDefault: true}) { id } }"}' | id lic)
gql '{"query":"mutation($l: ID!, $e: ID!) { setLicenseEntitlement(input: {licenseID: $l, entitlementID: $e, value: {type: \"number\", value: 1000000000000}}) { id } }", "variables": {"l": "'$L'", "e": "'$E'"}}' >/dev/null
gql '{"query":"mutation($l: ID!, $e: ID!) { setLicenseEntitlement(input: {licenseID: $l, entitlementID: $e, value: {type: \"boolean\", value: true}}) { id } }", "variables": {"l": "'$L'", "e": "'$B'"}}' >/dev/null
gql '{"query":"mutation { createInstance(input: {name: \"I\", slug: \"i\"}) { id } }"}' >/dev/null
for n in 1 2 3 4 5 6 7 8; do
  gql '{"query":"mutation { createInstance(input: {name: \"B'$n'\", slug: \"b'$n'\"}) { id } }"}' >/dev/null
done

lg() { "$work/loadgen" -url "http://$ADDR/graphql" -header "Authorization: Bearer $KEY" -header 'Content-Type: application/json' -expect '"data"' "$@"; }
echo '{"query":"mutation { reportUsage(input: {instance: \"i\", entitlement: \"events\", value: 1}) { usage { value } } }"}' > "$work/report.json"
for n in 1 2 3 4 5 6 7 8; do
  echo '{"query":"mutation { reportUsage(input: {instance: \"b'$n'\", entitlement: \"events\", value: 1}) { usage { value } } }"}'
done > "$work/report8.jsonl"
# Stale statistics for the key lookup's plan: analyzed empty, never again.
psql "$PG/$db" -qc "ANALYZE usage_events; ALTER TABLE usage_events SET (autovacuum_enabled = false)"
python3 - "$work" <<'PY'
import json, sys
def batch(inst):
    items = [{"instance": inst, "entitlement": "events", "value": 1} for _ in range(1000)]
    return json.dumps({"query": "mutation($in: [ReportUsageInput!]!) { reportUsageBatch(inputs: $in) { results { replayed } } }", "variables": {"in": items}})
open(sys.argv[1] + "/batch.json", "w").write(batch("i"))
# One batch per instance: concurrent batches of different instances do not
# wait on one counter row, as with real services.
open(sys.argv[1] + "/batches.jsonl", "w").write("\n".join(batch("b%d" % n) for n in range(1, 9)) + "\n")
PY
echo '{"query":"{ allowed(instance: \"i\", entitlement: \"events\") { allowed } }"}' > "$work/number.json"
echo '{"query":"{ allowed(instance: \"i\", entitlement: \"sso\") { allowed } }"}' > "$work/boolean.json"

psql "$PG/$db" -q <<'SQL'
CREATE TABLE bench_events (LIKE usage_events INCLUDING ALL);
CREATE TABLE bench_counters (LIKE usage_counters INCLUDING ALL);
CREATE TABLE bench_counters8 (n int PRIMARY KEY, count bigint, sum float8, updated_at timestamptz);
INSERT INTO bench_counters8 SELECT n, 0, 0, now() FROM generate_series(1, 8) n;
SQL
cat > "$work/pgbench.sql" <<'SQL'
BEGIN;
INSERT INTO bench_events (id, organization_id, instance_id, entitlement_id, kind, value, "timestamp", period_start, recorded_at, idempotency_key, request_hash, aggregate, result)
  VALUES (md5(random()::text), 'org', 'ins', 'ent', 'REPORT', 1, now(), date_trunc('month', now()), now(), md5(random()::text), md5(random()::text), 1, '{}');
UPDATE bench_counters SET count = count + 1, sum = sum + 1, updated_at = now();
END;
SQL
cat > "$work/pgbench8.sql" <<'SQL'
\set r random(1, 8)
BEGIN;
INSERT INTO bench_events (id, organization_id, instance_id, entitlement_id, kind, value, "timestamp", period_start, recorded_at, idempotency_key, request_hash, aggregate, result)
  VALUES (md5(random()::text), 'org', 'ins', 'ent', 'REPORT', 1, now(), date_trunc('month', now()), now(), md5(random()::text), md5(random()::text), 1, '{}');
UPDATE bench_counters8 SET count = count + 1, sum = sum + 1, updated_at = now() WHERE n = :r;
END;
SQL
secs=${D%s}
first=1
for c in $C; do
  echo "## reportUsage over HTTP, one counter row (c=$c, $D)"
  lg -name "reportUsage-c$c" -body "$work/report.json" -c "$c" -d "$D" -warmup 2s
  if [ $first = 1 ]; then
    # The first run's counter row now exists: pgbench's copy of it.
    psql "$PG/$db" -qc "INSERT INTO bench_counters SELECT * FROM usage_counters LIMIT 1"
    first=0
  fi
  echo "## pgbench: bare ledger INSERT + counter UPDATE, one row (c=$c, $D)"
  pgbench -n -c "$c" -j 2 -T "$secs" -f "$work/pgbench.sql" "$PG/$db" 2>/dev/null | grep -E 'tps|latency average'
  echo "## reportUsage over HTTP, spread over 8 counter rows (c=$c, $D)"
  lg -name "reportUsage-8rows-c$c" -bodies "$work/report8.jsonl" -c "$c" -d "$D" -warmup 2s
  echo "## pgbench: the same, spread over 8 rows (c=$c, $D)"
  pgbench -n -c "$c" -j 2 -T "$secs" -f "$work/pgbench8.sql" "$PG/$db" 2>/dev/null | grep -E 'tps|latency average'
done

echo "## reportUsageBatch, 1000 reports a call, variables (c=4, $D)"
lg -name batch-one-counter -body "$work/batch.json" -c 4 -d "$D" -warmup 2s
lg -name batch-8-instances -bodies "$work/batches.jsonl" -c 4 -d "$D" -warmup 2s

C1=${C%% *}
echo "## allowed over HTTP: NUMBER (usage from memory) vs BOOLEAN (c=$C1, $D)"
lg -name allowed-number -body "$work/number.json" -c "$C1" -d "$D" -warmup 2s
lg -name allowed-boolean -body "$work/boolean.json" -c "$C1" -d "$D" -warmup 2s

echo "## plan of the batch key lookup (statistics from the empty ledger)"
org=$(psql "$PG/$db" -tAc "SELECT organization_id FROM usage_events LIMIT 1")
keys=$(psql "$PG/$db" -tAc "SELECT string_agg(quote_literal(idempotency_key), ',') FROM (SELECT idempotency_key FROM usage_events ORDER BY random() LIMIT 500) k")
psql "$PG/$db" -tAc "SELECT reltuples::bigint AS planner_thinks, (SELECT count(*) FROM usage_events) AS rows FROM pg_class WHERE relname = 'usage_events'"
echo "# = ANY, as a plain lookup would:"
psql "$PG/$db" -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT idempotency_key, kind, request_hash, aggregate, period_start, result FROM usage_events WHERE organization_id = '$org' AND idempotency_key = ANY(ARRAY[$keys])" | grep -v 'ARRAY\|{'
echo "# metering's lookup (a probe per key):"
psql "$PG/$db" -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT k.key, e.kind FROM unnest(ARRAY[$keys]) AS k(key) CROSS JOIN LATERAL (SELECT kind FROM usage_events WHERE organization_id = '$org' AND idempotency_key = k.key LIMIT 1) e" | grep -v 'ARRAY\|{'

count=$(psql "$PG/$db" -tAc "SELECT sum(count) FROM usage_counters c JOIN entitlements e ON e.id = c.entitlement_id WHERE e.slug = 'events'")
events=$(psql "$PG/$db" -tAc "SELECT count(*) FROM usage_events")
echo "## check: counter says $count reports, ledger holds $events events"
[ "$count" = "$events" ] || { echo "MISMATCH between counter and ledger" >&2; exit 1; }
