"""The Genesys Cloud Platform API: an HTTP client and the `genesys` streaming source."""
