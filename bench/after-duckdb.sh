#!/usr/bin/env bash
# One Mamori query run right after a DuckDB process, ROUNDS times, as in bench/query.sh (where each Mamori
# run follows DuckDB's): prints each run's in-process seconds (--stats), system time and page faults.
#   bench/after-duckdb.sh STORE 'INSIGHTS QUERY' 'DUCKDB SQL over {P}' [ENV=VALUE ...]
# ENV=VALUE pairs are set for Mamori only (e.g. MIMALLOC_ALLOW_THP=0). Needs a release build and duckdb.
set -euo pipefail
cd "$(dirname "$0")/.."
STORE="$1" QUERY="$2" SQL="$3"
shift 3
BIN="${CARGO_TARGET_DIR:-target}/release"
P="read_parquet('$STORE/events/**/*.parquet')"
for _ in $(seq "${ROUNDS:-6}"); do
  duck=$(python3 -c "
import duckdb, sys, time
con = duckdb.connect()
con.execute('SET enable_progress_bar = false')
t = time.time(); con.sql(sys.argv[1]).fetchall(); print(round(time.time() - t, 3))" "${SQL//\{P\}/$P}")
  ours=$(env "$@" /usr/bin/time -f "sys %S s, %R faults" "$BIN/mamori" query "$QUERY" --data "$STORE" \
    --output csv --stats 2>&1 >/dev/null | sed -E 's/.*row\(s\) in ([0-9.]+) s.*/\1 s/' | tr '\n' ' ')
  echo "duckdb $duck s   mamori $ours"
done
