"""The one exception type for bad input.

Anything a user can fix (a wrong path, a malformed file, a bad override) raises
:class:`UserError` with a single line that names the file or value and says what to do.
The CLI prints it as ``error: <message>`` and exits with status 2; ``--debug`` shows the
traceback. Library callers (the dashboard) catch it and show the message on the page.
"""


class UserError(Exception):
    """A problem with the user's input, explained in one line."""

    def __init__(self, message: str):
        # Collapse to one line: the CLI contract is one line per error.
        super().__init__(" ".join(str(message).split()))
