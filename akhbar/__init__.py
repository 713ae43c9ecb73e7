"""Akhbar: streaming ingestion of Arabic news.

The shared core: the Article message, topic names, the bus, the stage runner,
configuration, logging, metrics and the command line.
"""

__version__ = "0.1.0"
