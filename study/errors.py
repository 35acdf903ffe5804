"""The one error type the CLI turns into a single line and exit code 2, and its "did you mean"."""
import difflib


class SpecError(ValueError):
    """Bad user input (flag, preset, YAML key, path): reported as one line, nothing started."""


def did_you_mean(name: str, choices) -> str:
    """` (did you mean 'x'?)` naming the closest of `choices` (difflib), or '' when none is close."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
