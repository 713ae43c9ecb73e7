"""Every error Akhbar raises on purpose descends from AkhbarError.

The runner decides what happens next from the class alone: an InvalidArticle is
dead-lettered and committed, a SinkUnavailable pauses consumption, anything else
is treated as transient and retried.
"""


class AkhbarError(Exception):
    """Root of the errors Akhbar raises on purpose."""


class ConfigError(AkhbarError):
    """The settings file or environment holds an invalid or unknown key."""


class InvalidArticle(AkhbarError):
    """This message can never be processed: dead-letter it with this reason and move on."""


class SinkUnavailable(AkhbarError):
    """A sink's backend cannot take writes now; pause, keep the buffer, commit nothing."""


class BusError(AkhbarError):
    """The bus could not deliver or store messages; nothing after them may be committed."""


class StageFailed(AkhbarError):
    """A stage gave up after its retries; it exits without committing what is in hand."""
