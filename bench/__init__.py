"""Benchmark suite of the ETL (`make bench`): scenarios, measurement helpers, results.json."""

from __future__ import annotations

import logging
import sys

# Loggers that speak per request or per wire call; the bench wants one line per unit of work.
NOISY_LOGGERS = ("py4j", "urllib3", "pymongo", "simulator.server")


def configure_logging() -> None:
    """INFO lines with time and logger on stderr, for the bench and its Spark children."""
    logging.basicConfig(
        level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
