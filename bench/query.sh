#!/usr/bin/env bash
# Query benchmark of issue 4: N generated CloudTrail events (default 10M) in a store, the issue's four queries
# (and an eventID needle) through `mamori query` and through DuckDB over the same Parquet files, in the same run.
#   bench/query.sh [EVENTS] [WORKDIR]
# Needs: a release build (cargo build --release -p mamori-cli -p mamori-gen), python3 with duckdb
# (pip install duckdb), and the shared corpus for the generator's templates (SHARED, default ../shared).
# Each engine timed two ways: the whole process, and in-process (Mamori's --stats, from reading the
# manifest to the last row; DuckDB's query call in Python, after the import); medians of ROUNDS runs.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${1:-10000000}"
WORK="${2:-/var/tmp/mamori-qbench}"
SHARED="${SHARED:-../shared}"
BIN="${CARGO_TARGET_DIR:-target}/release"
[ -d "$SHARED/corpus" ] || { echo "no $SHARED/corpus: set SHARED to the shared material" >&2; exit 1; }
mkdir -p "$WORK"
if [ ! -d "$WORK/store" ]; then
  "$BIN/mamori-gen" generate --out "$WORK/input" --kind cloudtrail --events "$EVENTS" \
    --templates "$SHARED/corpus" --templates testdata/samples
  "$BIN/mamori" ingest "$WORK/input" --data "$WORK/store" --no-detect
  "$BIN/mamori" store compact --data "$WORK/store"
  rm -rf "$WORK/input"
fi
"$BIN/mamori" store stats --data "$WORK/store" | tail -1
P="read_parquet('$WORK/store/events/**/*.parquet')"
duck() { python3 -c "
import duckdb, sys
con = duckdb.connect()
con.execute('SET enable_progress_bar = false')
print(con.sql(sys.argv[1]).fetchall()[0][0])" "$1"; }
# A needle: an address on one event (the generator's one-off addresses); and a
# common one, on every ~5,400th event (its pool of 5,000), for contrast.
IP=$(duck "SELECT src_ip FROM $P WHERE src_ip IS NOT NULL GROUP BY 1 HAVING count(*) = 1 ORDER BY 1 LIMIT 1")
COMMON=$(duck "SELECT src_ip FROM $P WHERE src_ip IS NOT NULL LIMIT 1 OFFSET 777")
# The same event each run: files are read in parallel, so an offset alone picks any.
EVENT=$(duck "SELECT uid FROM $P ORDER BY uid LIMIT 1 OFFSET 4242")
DAY=$(duck "SELECT strftime(min(time), '%Y-%m-%d') FROM $P")
BUCKET=$(duck "SELECT json_extract_string(raw, '\$.requestParameters.bucketName') b FROM $P WHERE b IS NOT NULL LIMIT 1")
NEXT=$(python3 -c "import datetime; print(datetime.date.fromisoformat('$DAY') + datetime.timedelta(days=1))")

# Each query runs ROUNDS times (default 3), the two engines taking turns, and
# the median of each column is shown: one run on these shared machines varies
# 2-5x, and whichever engine runs first also warms the page cache for the other.
ROUNDS="${ROUNDS:-3}"
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
run() { # name, insights query, duckdb sql, extra mamori arguments
  local t0 t1 ours=() inside=() theirs=() whole=()
  for _ in $(seq "$ROUNDS"); do
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086
    "$BIN/mamori" query "$2" --data "$WORK/store" --output csv --stats ${4:-} > /dev/null 2> "$WORK/stats"
    t1=$(date +%s.%N)
    ours+=("$(echo "$t1 - $t0" | bc)")
    # --stats: "mamori: N row(s) in T s (phases)", from reading the manifest to the last row.
    inside+=("$(sed -nE 's/.*row\(s\) in ([0-9.]+) s.*/\1/p' "$WORK/stats")")
    t0=$(date +%s.%N)
    theirs+=("$(python3 -c "
import duckdb, sys, time
con = duckdb.connect()
con.execute('SET enable_progress_bar = false')
t = time.time()
con.sql(sys.argv[1]).fetchall()
print(round(time.time() - t, 3))" "$3")")
    t1=$(date +%s.%N)
    whole+=("$(echo "$t1 - $t0" | bc)")
  done
  m() { printf '%s\n' "$@" | median; }
  printf '%-28s mamori %6.3f s (in-process %6.3f s)   duckdb %6.3f s (process %6.3f s)   in-process runs: %s | %s\n' \
    "$1" "$(m "${ours[@]}")" "$(m "${inside[@]}")" "$(m "${theirs[@]}")" "$(m "${whole[@]}")" "${inside[*]}" "${theirs[*]}"
}

run "stats count by eventName" 'stats count(*) as n by eventName' "SELECT api_operation, count(*) FROM $P GROUP BY 1"
run "needle sourceIPAddress" "filter sourceIPAddress = '$IP' | limit 100" "SELECT * FROM $P WHERE src_ip = '$IP' ORDER BY time DESC LIMIT 100"
run "common sourceIPAddress" "filter sourceIPAddress = '$COMMON' | limit 100" "SELECT * FROM $P WHERE src_ip = '$COMMON' ORDER BY time DESC LIMIT 100"
run "needle eventID" "filter eventID = '$EVENT' | limit 100" "SELECT * FROM $P WHERE uid = '$EVENT' ORDER BY time DESC LIMIT 100"
run "5m bins over a day" 'stats count(*) as n by bin(5m)' "SELECT time_bucket(INTERVAL 5 minute, time) t, count(*) FROM $P WHERE time >= TIMESTAMP '$DAY' AND time < TIMESTAMP '$NEXT' GROUP BY 1" "--start $DAY --end $NEXT"
run "raw path bucketName" "filter requestParameters.bucketName = '$BUCKET' | stats count(*) as n" "SELECT count(*) FROM $P WHERE json_extract_string(raw, '\$.requestParameters.bucketName') = '$BUCKET'"
