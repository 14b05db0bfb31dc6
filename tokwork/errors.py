"""The exceptions tokwork raises for user mistakes.

Everything a user can get wrong (a missing file, a corpus that is not UTF-8, an absurd parameter) raises a
`TokworkError`. The CLI prints its message as one line on stderr and exits with code 2; programming errors
stay ordinary exceptions with tracebacks.
"""

from __future__ import annotations


class TokworkError(Exception):
    """A problem with the user's input; the message names the thing and, where one exists, the fix."""


class CorpusError(TokworkError):
    """A corpus cannot be read: missing, empty, not UTF-8, or not the format its name says."""


class TokenizerFormatError(TokworkError):
    """A tokenizer file is missing, corrupt, or in a format tokwork does not read."""


class ParameterError(TokworkError):
    """A parameter is outside the range where the requested work makes sense."""


class OutputError(TokworkError):
    """An output path cannot be written without losing something the user did not ask to replace."""
