"""Run the ingest and weekly-digest schedules in one process, without a Prefect server or worker.

    python -m flows.serve [--every-hours 3] [--digest-cron "0 8 * * 1"] [--timezone Asia/Shanghai]

The same schedules as prefect.yaml; Prefect's `serve` keeps the process polling until stopped.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from prefect import serve
from prefect.schedules import Cron

from flows.digest import weekly_digest
from flows.ingest import ingest
from mediamon.errors import PrefectUnavailable
from mediamon.orchestration import prefect_api


def main(argv: list[str] | None = None) -> None:
    """Serve both deployments on their schedules."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every-hours", type=float, default=3.0, help="ingest interval")
    parser.add_argument("--digest-cron", default="0 8 * * 1", help="when the weekly digest is built and sent")
    parser.add_argument("--timezone", default="Asia/Shanghai")
    parser.add_argument("--no-send", action="store_true", help="archive digests without emailing them")
    args = parser.parse_args(argv)
    try:
        with prefect_api():
            serve(
                ingest.to_deployment(name="ingest", interval=timedelta(hours=args.every_hours), concurrency_limit=1),
                weekly_digest.to_deployment(name="weekly-digest", schedule=Cron(args.digest_cron, timezone=args.timezone),
                                            parameters={"send": not args.no_send}, concurrency_limit=1),
            )
    except PrefectUnavailable as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
