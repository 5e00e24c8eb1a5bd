"""The one error of the package: a piece of the stack did not start."""


class StartError(RuntimeError):
    """A server or process did not start, or did not answer in time; the message says which and why."""
