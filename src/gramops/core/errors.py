"""The one exception family a user can act on.

Stage scripts catch :class:`GramopsError` and print its message without a traceback: the
message itself must name the input or params key, what went wrong, and what is allowed.
"""


class GramopsError(Exception):
    """A problem with the user's input, params or data, explained in the message."""
