"""One root exception for wakeful; every error a user can cause derives from it."""

from __future__ import annotations


class WakefulError(Exception):
    """Something went wrong in wakeful."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__)


class ConfigError(WakefulError):
    """A setting or input file is invalid."""


class ServiceUnavailable(WakefulError):
    """A configured backing service does not answer.

    The message names the environment variable that points at it.
    """


class NotFound(WakefulError):
    """The requested object does not exist."""


class Conflict(WakefulError):
    """The request does not fit the object's current state."""


class Forbidden(WakefulError):
    """The caller may not do this."""


class TransitionRefused(Conflict):
    """The task lifecycle has no such edge; the message names both states."""


class KillSwitchOn(Conflict):
    """The kill switch is on: no task starts until it is turned off."""


class LeaseLost(WakefulError):
    """This run's lease on its task was taken over: it must stop without touching the task."""
