"""Errors a user can cause.

Every package raises :class:`UserError` for bad input (unknown model, impossible parameter,
corrupt file, NaN tensor); the CLI turns it into one message on stderr and exit status 2.
Anything else escaping the CLI is a bug in tapeout and keeps its traceback.
"""


class UserError(ValueError):
    """Bad input from the user; the message says what is wrong and how to fix it."""


EXIT_USER_ERROR = 2
