"""Domain errors: raised by pure rules, translated to HTTP or CLI errors by the entry points."""


class DomainError(Exception):
    """Base of every error raised by the domain layer."""


class InvalidSignal(DomainError):
    """A signal or update that cannot be traded: malformed, incomplete or impossible.

    ``problems`` lists every reason, so a caller can show all of them at once.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems) or "invalid signal")
