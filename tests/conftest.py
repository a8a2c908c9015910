"""Shared test fixtures: one local SparkSession for the whole run."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

# Spark's Python workers must start this interpreter (the virtualenv's), not the system Python,
# or they cannot import pyarrow.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """One local Spark session shared by every test; the connector jars join when present."""
    from app.session import build_local_test_session

    session = build_local_test_session()
    yield session
    session.stop()
