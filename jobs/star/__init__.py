"""Builders of the star schema: dimension and fact documents from parsed raw payloads."""
