"""The one error type the CLI turns into a single line and exit code 2."""


class SpecError(ValueError):
    """Bad user input (flag, preset, YAML key, path): reported as one line, nothing started."""
