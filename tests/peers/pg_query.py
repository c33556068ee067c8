"""Runs one query with parameters through psycopg 3 (the extended query protocol:
Parse, Bind, Describe, Execute, as pgx and JDBC also speak it) and prints each
row as a JSON array: bytea as hex, everything else as its text.

usage: pg_query.py PORT PASSWORD SQL [PARAM ...]

With PG_QUERY_NAMES=1 in the environment, the column names come first, as a
JSON array of their own."""
import json
import os
import sys

import psycopg

port, password, sql, params = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
with psycopg.connect(host="127.0.0.1", port=port, user="sre", dbname="toolpulse", password=password, sslmode="disable", connect_timeout=10) as conn:
    cursor = conn.execute(sql, params, prepare=True)
    rows = cursor.fetchall()
    if os.environ.get("PG_QUERY_NAMES") == "1":
        print(json.dumps([column.name for column in cursor.description]))
for row in rows:
    print(json.dumps([v.hex() if isinstance(v, bytes) else v if v is None or isinstance(v, (int, float)) else str(v) for v in row]))
