"""Answers SQL over toolpulse's Parquet files with DuckDB, a reader and engine
that are not ours: the independent side of the tests that check toolpulse's
figures.

usage: duckdb_query.py DATA_DIR < queries

Each line of standard input is one query over the view `tool_calls` (every
file under DATA_DIR/tool_calls, `duration_ms` as DOUBLE, and `ts_ms`, the
timestamp in epoch milliseconds); each answer is one
line of standard output, a JSON array of rows (arrays of values).
"""
import json
import sys

import duckdb

data_dir = sys.argv[1]
con = duckdb.connect()
# duration_ms is a DECIMAL in files where that keeps every value exact, else a
# DOUBLE: read by name and compare as DOUBLE.
files = f"{data_dir}/tool_calls/*/*/*.parquet".replace("'", "''")
con.execute(f"CREATE VIEW raw AS SELECT * FROM read_parquet('{files}', hive_partitioning = false, union_by_name = true)")
con.execute(
    "CREATE VIEW tool_calls AS SELECT * REPLACE (duration_ms::DOUBLE AS duration_ms), "
    "epoch_ns(timestamp) // 1000000 AS ts_ms FROM raw"
)
for line in sys.stdin:
    if line.strip():
        print(json.dumps(con.execute(line).fetchall(), default=str), flush=True)
