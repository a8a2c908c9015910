"""Pure column and DataFrame transforms shared by the curate job; no I/O here."""
