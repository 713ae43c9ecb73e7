"""Ingest: where articles enter the pipeline, as cleaned Article messages."""
