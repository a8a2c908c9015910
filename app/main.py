"""Command line of the Genesys Cloud streaming ETL: `python -m app.main run` (or spark-submit),
and `python -m app.main purge-raw --older-than-days N [--dry-run]` for raw-layer retention.

Exit codes: 0 done or stopped on request, 1 a query failed (restart from the checkpoints),
2 the configuration is invalid (fix it first).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.config import load_config, mask_uri
from app.errors import ConfigError

log = logging.getLogger("app")


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="genesys-etl", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the capture and curate queries")
    run.add_argument("--config", type=Path, default=None, help="TOML file (conf/application.toml)")
    purge = commands.add_parser(
        "purge-raw", help="delete raw versions not seen for N days (when TTL is not available)"
    )
    purge.add_argument("--older-than-days", type=_positive_days, required=True, metavar="N")
    purge.add_argument("--dry-run", action="store_true", help="count, delete nothing")
    purge.add_argument(
        "--config", type=Path, default=None, help="TOML file (conf/application.toml)"
    )
    return parser.parse_args(argv)


def _positive_days(text: str) -> int:
    # 0 would delete everything not seen this very second: surely a mistake.
    days = int(text)
    if days < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {days}")
    return days


def purge_raw(config_path: Path | None, older_than_days: int, dry_run: bool) -> int:
    """Delete raw versions last seen more than `older_than_days` ago; print counts per
    collection. Needs only the raw-layer settings, not the Genesys credentials."""
    from connectors.mongo.raw_store import RawStore

    config = load_config(config_path, require_api=False)
    cutoff = datetime.now(UTC).replace(microsecond=0) - timedelta(days=older_than_days)
    log.info(
        "purge-raw: raw %s/%s, versions last seen before %s%s",
        mask_uri(config.mongo.raw_uri.reveal()),
        config.mongo.raw_database,
        cutoff.isoformat(),
        " (dry run)" if dry_run else "",
    )
    raw = RawStore(config.mongo.raw_uri.reveal(), config.mongo.raw_database)
    try:
        counts = raw.purge_older_than(cutoff, dry_run=dry_run)
    finally:
        raw.close()
    verb = "would delete" if dry_run else "deleted"
    for collection, count in counts.items():
        print(f"purge-raw: {collection}: {verb} {count}")
    return 0


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
    log.info("queries started: capture %s, curate %s", capture.id, curate.id)
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
        if args.command == "purge-raw":
            return purge_raw(args.config, args.older_than_days, args.dry_run)
        return run(args.config)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
