"""Command line of the Genesys Cloud streaming ETL: `python -m app.main run` (or spark-submit).

Exit codes: 0 done or stopped on request, 1 a query failed (restart from the checkpoints),
2 the configuration is invalid (fix it first).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from app.config import load_config, mask_uri
from app.errors import ConfigError

log = logging.getLogger("app")


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="genesys-etl", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the capture and curate queries")
    run.add_argument("--config", type=Path, default=None, help="TOML file (conf/application.toml)")
    return parser.parse_args(argv)


def run(config_path: Path | None) -> int:
    """Start both queries and wait for them; see the module docstring for exit codes."""
    from app.pipeline import prepare_stores, run_until_done, start_capture, start_curate
    from app.session import build_session

    config = load_config(config_path)
    log.info(
        "starting: API %s, raw %s/%s, DWH %s/%s, trigger %ss, lookback %ss, range %s..%s",
        config.genesys.api_base_url,
        mask_uri(config.mongo.raw_uri.reveal()),
        config.mongo.raw_database,
        mask_uri(config.mongo.dwh_uri.reveal()),
        config.mongo.dwh_database,
        config.capture.trigger_seconds,
        config.capture.lookback_seconds,
        config.capture.start,
        config.capture.end or "unbounded",
    )
    prepare_stores(config)
    spark = build_session("genesys-etl", config.spark_master, config.shuffle_partitions)
    capture = start_capture(spark, config, os.environ.get("GENESYS_CLIENT_SECRET_FILE"))
    curate = start_curate(spark, config)
    try:
        return run_until_done(config, capture, curate)
    except Exception:
        log.exception("a streaming query failed; exiting so that it restarts from checkpoints")
        for query in (capture, curate):
            if query.isActive:
                query.stop()
        return 1
    finally:
        spark.stop()


def main(argv: list[str] | None = None) -> int:
    """Entry point; logs go to stderr, one line per unit of work."""
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=level if level in logging.getLevelNamesMapping() else "INFO",
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("py4j", "urllib3", "pymongo"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return run(args.config)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
