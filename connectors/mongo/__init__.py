"""MongoDB edges: the raw layer (landing, batch markers, reading back) and the DWH writer."""

# Write operations per bulk command, for pymongo and the Spark connector alike. FerretDB 1.24
# on SQLite (the local server of the demo and tests) stops answering an update command that
# changes 100 or more existing documents (measured: 99 in 0.17 s, 100 never returns), so every
# writer stays well below that. Against MongoDB the cost is a few more round trips.
WRITE_BATCH_SIZE = 50
