"""The baseline job of the worker benchmark: does nothing."""


def noop(_argument=None):
    return None
