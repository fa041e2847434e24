"""Why a writer's peak memory still grows a little with the warehouse, and where that stops.

Each 500-row batch is appended by a fresh connection (as the ingest flow's writer does), the file attached
with ROW_GROUP_SIZE 2048 and DuckDB within 128 MB; closing checkpoints, which rewrites the last, partly
filled row group. The process's high-water mark is printed after each batch: it rises while that row
group fills and stays put once it is full. Run: python bench/duckdb_row_group_memory.py
"""

import os
import random
import tempfile

import duckdb
import pyarrow as pa

BATCH, BATCHES, CHARS = 500, 12, 8000
# Common Han characters: random text of them compresses about as badly as real article text.
HAN = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经"


def high_water_mb() -> int:
    """This process's peak resident memory so far, in MB."""
    with open("/proc/self/status") as f:
        return int(f.read().split("VmHWM:")[1].split()[0]) // 1024


def main() -> None:
    """Append BATCHES batches of two long text columns; print rows stored and the high-water mark."""
    rng = random.Random(1)
    path = os.path.join(tempfile.mkdtemp(), "rg.duckdb")

    def connect():
        """A writer connection like mediamon's."""
        con = duckdb.connect(config={"memory_limit": "128MB"})
        con.execute(f"ATTACH '{path}' AS w (ROW_GROUP_SIZE 2048)")
        con.execute("USE w")
        return con

    con = connect()
    con.execute("CREATE TABLE a (id VARCHAR, text VARCHAR, text_simplified VARCHAR)")
    con.close()
    print("rows stored  high-water MB")
    for b in range(BATCHES):
        texts = ["".join(rng.choices(HAN, k=CHARS)) for _ in range(BATCH)]
        batch = pa.table({"id": [f"{b}-{i}" for i in range(BATCH)], "text": texts, "text_simplified": texts})
        con = connect()
        con.register("batch", batch)
        con.execute("INSERT INTO a SELECT * FROM batch")
        con.close()
        print(f"{(b + 1) * BATCH:11d}  {high_water_mb():13d}")


if __name__ == "__main__":
    main()
