"""Why the growing tables have no PRIMARY KEY/UNIQUE: time to append a 100-row batch and close, with and without.

DuckDB re-serialises ART indexes at every checkpoint (each writer connection closes with one), so with
indexes a batch's cost grows with the table. Run: python bench/duckdb_index_checkpoint.py
"""

import os
import tempfile
import time

import duckdb


def run(n, indexed):
    """Mean ms to open, append 100 rows and close, on a table of n rows."""
    d = tempfile.mkdtemp(); path = os.path.join(d, "t.duckdb")
    con = duckdb.connect(path)
    pk = "PRIMARY KEY" if indexed else ""
    uq = "UNIQUE" if indexed else ""
    con.execute(f"CREATE TABLE t (id VARCHAR {pk}, url VARCHAR {uq}, body VARCHAR)")
    con.execute(f"INSERT INTO t SELECT md5(i::VARCHAR), 'https://x/' || i, repeat('x', 2000) FROM range({n}) r(i)")
    con.close()
    t = time.perf_counter()
    for b in range(5):
        con = duckdb.connect(path)
        con.execute(f"INSERT INTO t SELECT md5((i+{n + b*100})::VARCHAR), 'https://y/' || (i+{n+b*100}), repeat('y', 2000) FROM range(100) r(i)")
        con.close()
    return (time.perf_counter() - t) / 5 * 1000
for n in (10000, 100000):
    print(n, "indexed ms/batch", round(run(n, True)), " no index ms/batch", round(run(n, False)))
