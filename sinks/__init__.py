"""Sinks: where enriched articles leave the pipeline (JSON files, the search index)."""
