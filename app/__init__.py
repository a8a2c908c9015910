"""Entry points: configuration, the Spark session, the wiring of the capture and curate queries."""
