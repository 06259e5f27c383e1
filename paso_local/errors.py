"""The one error type a user ever sees: printed as `Error: ...`, exit status 1, never a traceback."""


class PasoError(Exception):
    """A problem the user can act on. The message names the file, field or value and says what to do."""
