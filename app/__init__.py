"""Entry points: configuration, the Spark session and the wiring of the capture and curate queries."""
