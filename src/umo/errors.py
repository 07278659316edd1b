"""User-facing errors.

Every problem a user can cause (a file that cannot be read, empty text, an unknown voice, a CSV
with the wrong columns) raises :class:`UmoError` with a message that says what is wrong and how to
fix it. The CLI prints the message and exits with status 2; it never shows a traceback for these.
"""


class UmoError(Exception):
    """An error caused by the user's input, with a message meant for that user."""
