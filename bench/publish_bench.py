"""`make bench`: what publishing the analysts' read copy costs at 10k, 100k and 1M articles, against the other ways.

A warehouse is filled in SQL as in `measures_bench.py` (articles over 52 weeks, labels, 50 stored terms each), with
article text of realistic size (two ~1,600-character columns of varied text per article, as the original and the
simplified copy), and its measures refreshed. Then, in the same run, three ways to give analysts a consistent copy:

- mediamon's publish: CHECKPOINT, a kernel-side file copy, fsync, an atomic rename (`Warehouse.publish`);
- `ATTACH` a new file and `COPY FROM DATABASE` (DuckDB rewrites every table);
- `EXPORT DATABASE` to Parquet (what a views-over-Parquet snapshot would need, before writing any views).

Each is timed `--repeat` times (the median is printed); the Parquet export only up to `--max-export` articles.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import duckdb
from measures_bench import FILL

from mediamon import runs
from mediamon.seeds import load_seeds
from mediamon.testing import project_config
from mediamon.warehouse import Warehouse

# ~1,600 characters of text that does not compress to nothing (hex of 48 hashes), per column.
TEXT = ("array_to_string(list_transform(range(48), x -> md5(i::VARCHAR || '-' || x)), ' ') AS text, "
        "array_to_string(list_transform(range(48), x -> md5(x::VARCHAR || '+' || i)), ' ') AS text_simplified")


def fill(wh: Warehouse, n: int) -> None:
    """n articles with text, labels and 50 terms each, in batches (so DuckDB's memory stays bounded)."""
    sql = FILL.replace("'text ' || i AS text, 'text ' || i AS text_simplified", TEXT)
    assert sql != FILL
    step = 100_000
    for start in range(0, n, step):
        end = min(n, start + step)
        with wh.writer(unlimited=True) as con:
            con.execute(sql.replace("$start", str(start)).replace("$end", str(end)).replace("$n", str(n))
                        .replace("$terms", "50"))


def build(n: int, folder: Path) -> Warehouse:
    """A warehouse of n articles, measures refreshed, as after an ingest run."""
    config = project_config()
    wh = Warehouse(folder / f"publish-{n}.duckdb")
    wh.migrate()
    wh.ingest.insert_baseline(load_seeds(datetime(2025, 3, 10, tzinfo=UTC), config.seeds_dir, config.analysis), "seeds")
    runs.refresh_measures(wh, config)
    fill(wh, n)
    runs.refresh_measures(wh, config, full=True)
    return wh


def copy_from_database(wh: Warehouse, target: Path) -> None:
    """ATTACH a new file and COPY FROM DATABASE into it."""
    target.unlink(missing_ok=True)
    con = duckdb.connect()
    con.execute(f"ATTACH '{wh.path}' AS src (READ_ONLY)")
    con.execute(f"ATTACH '{target}' AS dst")
    con.execute("COPY FROM DATABASE src TO dst")
    con.close()


def export_parquet(wh: Warehouse, target: Path) -> None:
    """EXPORT DATABASE as Parquet files."""
    shutil.rmtree(target, ignore_errors=True)
    with duckdb.connect(str(wh.path), read_only=True) as con:
        con.execute(f"EXPORT DATABASE '{target}' (FORMAT parquet)")


def timed(action, repeat: int) -> float:
    """The median seconds of `repeat` runs of action()."""
    times = []
    for _ in range(repeat):
        start = time.monotonic()
        action()
        times.append(time.monotonic() - start)
    return statistics.median(times)


def main() -> int:
    """Build each size and print the three ways side by side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-export", type=int, default=100_000, help="largest size the Parquet export runs at")
    args = parser.parse_args()
    print("articles   file MB   publish s   COPY FROM DATABASE s   EXPORT DATABASE parquet s")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for n in args.articles:
            wh = build(n, folder)
            size = wh.path.stat().st_size / 2**20
            publish = timed(wh.publish, args.repeat)
            copied = timed(partial(copy_from_database, wh, folder / "copied.duckdb"), args.repeat)
            exported = timed(partial(export_parquet, wh, folder / "parquet"), args.repeat) if n <= args.max_export else None
            print(f"{n:>8,}  {size:>8,.0f}  {publish:>10.2f}  {copied:>21.2f}  "
                  f"{'(not run)' if exported is None else f'{exported:.2f}':>26}", flush=True)
            for leftover in folder.iterdir():
                shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
