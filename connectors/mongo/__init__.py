"""MongoDB edges: the raw layer (landing, batch markers, reading back) and the DWH writer."""
