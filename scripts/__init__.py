"""Developer tooling: setup, the local MongoDB-wire server, test and CI helpers."""
