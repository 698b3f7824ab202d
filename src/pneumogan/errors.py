"""The one exception type for errors a user can cause and fix."""


class PneumoganError(Exception):
    """A problem the user can fix (bad path, bad image, missing weights, wrong config key).

    The CLI prints its message on one line, without a traceback, and exits non-zero.
    """


class ImageReadError(PneumoganError):
    """An image file that cannot be turned into a radiograph array; `reason` is short and stable."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)
