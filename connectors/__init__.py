"""Edges of the pipeline: the Genesys Cloud API and the MongoDB raw and DWH stores."""
