"""Registration of the project's Python data sources in a SparkSession."""

from __future__ import annotations

from pyspark.sql import SparkSession

from connectors.genesys.source import GenesysDataSource
from connectors.mongo.raw_source import RawDataSource


def register_data_sources(spark: SparkSession) -> None:
    """Register `genesys` and `genesys_raw`; needed in every new session, restarts included."""
    spark.dataSource.register(GenesysDataSource)
    spark.dataSource.register(RawDataSource)
