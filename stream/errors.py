"""The one error type for problems a user can fix (bad file, bad option, no camera).

Every stage raises `SpikeLipError` with a message written for people; only `app.cli`
turns it into one line on stderr and exit status 2.
"""


class SpikeLipError(Exception):
    """A problem with the user's input or setup, with a message that says what to do."""
