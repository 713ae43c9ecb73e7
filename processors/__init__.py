"""Processors: steps that read articles from one topic and write them, enriched, to the next."""
