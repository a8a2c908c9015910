"""Edges of the pipeline: the Genesys Cloud API client and source, the MongoDB raw and DWH stores."""
