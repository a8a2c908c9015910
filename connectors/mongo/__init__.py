"""MongoDB edges: the raw layer (landing, batch markers, reading back) and the DWH writer."""

# Write operations per bulk command, for pymongo and the Spark connector alike. FerretDB 1.24
# on SQLite (the local server of the demo and tests) holds one SQLite connection per update of a
# command until the command ends, out of a pool of 100: when the updates in flight over all
# clients reach 100, every command waits for a connection forever (a goroutine dump shows them
# all in database/sql's DB.conn). One command of 100 updates hangs alone; two capture tasks, the
# curate tasks and the driver hung with 50 each. 12 leaves room for 8 concurrent writers
# (tested). Against MongoDB the cost is a few more round trips.
WRITE_BATCH_SIZE = 12
