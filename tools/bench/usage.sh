#!/usr/bin/env bash
# Metering benchmarks on PostgreSQL, one run, same machine:
#   1. single reportUsage over HTTP vs pgbench running the bare equivalent
#      transaction (one ledger INSERT + one counter UPDATE) at the same
#      concurrency, on copies of the same tables;
#   2. reportUsageBatch ingest (1000 reports a call);
#   3. allowed on a NUMBER entitlement (reads the counter) vs BOOLEAN.
# Usage: bash tools/bench/usage.sh [-c 16] [-d 10s]
set -euo pipefail
cd "$(dirname "$0")/../.."
C=16; D=10s
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

echo "## reportUsage over HTTP (c=$C, $D)"
lg -name reportUsage -body "$work/report.json" -c "$C" -d "$D" -warmup 2s | tee "$work/report.txt"

echo "## pgbench: bare ledger INSERT + counter UPDATE (c=$C, $D)"
psql "$PG/$db" -q <<'SQL'
CREATE TABLE bench_events (LIKE usage_events INCLUDING ALL);
CREATE TABLE bench_counters (LIKE usage_counters INCLUDING ALL);
INSERT INTO bench_counters SELECT * FROM usage_counters LIMIT 1;
SQL
cat > "$work/pgbench.sql" <<'SQL'
BEGIN;
INSERT INTO bench_events (id, organization_id, instance_id, entitlement_id, kind, value, "timestamp", period_start, recorded_at, idempotency_key, request_hash, aggregate, result)
  VALUES (md5(random()::text), 'org', 'ins', 'ent', 'REPORT', 1, now(), date_trunc('month', now()), now(), md5(random()::text), md5(random()::text), 1, '{}');
UPDATE bench_counters SET count = count + 1, sum = sum + 1, updated_at = now();
END;
SQL
secs=${D%s}
pgbench -n -c "$C" -j 2 -T "$secs" -f "$work/pgbench.sql" "$PG/$db" 2>/dev/null | grep -E 'tps|latency average' | tee "$work/pgbench.txt"

echo "## reportUsageBatch, 1000 reports a call, variables (c=4, $D)"
lg -name batch-one-counter -body "$work/batch.json" -c 4 -d "$D" -warmup 2s
lg -name batch-8-instances -bodies "$work/batches.jsonl" -c 4 -d "$D" -warmup 2s

echo "## allowed over HTTP: NUMBER (reads the counter) vs BOOLEAN (c=$C, $D)"
lg -name allowed-number -body "$work/number.json" -c "$C" -d "$D" -warmup 2s
lg -name allowed-boolean -body "$work/boolean.json" -c "$C" -d "$D" -warmup 2s

count=$(psql "$PG/$db" -tAc "SELECT sum(count) FROM usage_counters c JOIN entitlements e ON e.id = c.entitlement_id WHERE e.slug = 'events'")
events=$(psql "$PG/$db" -tAc "SELECT count(*) FROM usage_events")
echo "## check: counter says $count reports, ledger holds $events events"
[ "$count" = "$events" ] || { echo "MISMATCH between counter and ledger" >&2; exit 1; }
