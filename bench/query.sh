#!/usr/bin/env bash
# Query benchmark of issue 4: N generated CloudTrail events (default 10M) in a store, four queries through
# `mamori query` and through DuckDB over the same Parquet files, each timed in the same run.
#   bench/query.sh [EVENTS] [WORKDIR]
# Needs: a release build (cargo build --release -p mamori-cli -p mamori-gen), python3 with duckdb.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${1:-10000000}"
WORK="${2:-/var/tmp/mamori-qbench}"
BIN="${CARGO_TARGET_DIR:-target}/release"
mkdir -p "$WORK"
if [ ! -d "$WORK/store" ]; then
  "$BIN/mamori-gen" generate --out "$WORK/input" --kind cloudtrail --events "$EVENTS"
  "$BIN/mamori" ingest "$WORK/input" --data "$WORK/store"
  "$BIN/mamori" store compact --data "$WORK/store"
  rm -rf "$WORK/input"
fi
"$BIN/mamori" store stats --data "$WORK/store" | tail -1
# A needle that exists: the source IP of one stored event.
IP=$(python3 -c "
import duckdb
print(duckdb.sql(\"SELECT src_ip FROM read_parquet('$WORK/store/events/**/*.parquet') WHERE src_ip IS NOT NULL LIMIT 1 OFFSET 777\").fetchall()[0][0])")
DAY=$(python3 -c "
import duckdb
print(duckdb.sql(\"SELECT strftime(min(time), '%Y-%m-%d') FROM read_parquet('$WORK/store/events/**/*.parquet')\").fetchall()[0][0])")
BUCKET=$(python3 -c "
import duckdb
print(duckdb.sql(\"SELECT json_extract_string(raw, '\$.requestParameters.bucketName') b FROM read_parquet('$WORK/store/events/**/*.parquet') WHERE b IS NOT NULL LIMIT 1\").fetchall()[0][0])")

NEXT=$(python3 -c "import datetime; print(datetime.date.fromisoformat('$DAY') + datetime.timedelta(days=1))")

run() { # name, insights query, duckdb sql, extra mamori arguments
  local t0 t1
  t0=$(date +%s.%N)
  # shellcheck disable=SC2086
  "$BIN/mamori" query "$2" --data "$WORK/store" --output csv ${4:-} > /dev/null
  t1=$(date +%s.%N)
  local ours; ours=$(echo "$t1 - $t0" | bc)
  local theirs; theirs=$(python3 -c "
import duckdb, time
t = time.time()
duckdb.sql(\"\"\"$3\"\"\").fetchall()
print(round(time.time() - t, 3))")
  printf '%-28s mamori %6.3f s   duckdb %6.3f s\n' "$1" "$ours" "$theirs"
}

P="read_parquet('$WORK/store/events/**/*.parquet')"
run "stats count by eventName" 'stats count(*) as n by eventName' "SELECT api_operation, count(*) FROM $P GROUP BY 1"
run "needle sourceIPAddress" "filter sourceIPAddress = '$IP' | limit 100" "SELECT * FROM $P WHERE src_ip = '$IP' LIMIT 100"
run "5m bins over a day" 'stats count(*) as n by bin(5m)' "SELECT time_bucket(INTERVAL 5 minute, time) t, count(*) FROM $P WHERE time >= TIMESTAMP '$DAY' AND time < TIMESTAMP '$NEXT' GROUP BY 1" "--start $DAY --end $NEXT"
run "raw path bucketName" "filter requestParameters.bucketName = '$BUCKET' | stats count(*) as n" "SELECT count(*) FROM $P WHERE json_extract_string(raw, '\$.requestParameters.bucketName') = '$BUCKET'"
