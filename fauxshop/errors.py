"""Errors a user can fix: the CLI prints them as one line instead of a traceback."""


class FauxshopError(Exception):
    """Bad input or state the user can act on; the message names the file and reason."""
