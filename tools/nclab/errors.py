"""Errors the lab reports to its user as one clear line (never a traceback)."""


class LabError(Exception):
    """A failure with a message that names the bad value and where it came from."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message
