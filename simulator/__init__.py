"""A Genesys Cloud Platform API simulator: a real HTTP server on loopback for demos and tests."""
