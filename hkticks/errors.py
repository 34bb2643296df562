"""Errors the user can act on.

Every expected failure is an :class:`HkticksError` whose message is one line
saying what happened and what to do. ``cli`` prints it (no traceback) and
exits with :attr:`HkticksError.exit_code`.
"""

from __future__ import annotations


class HkticksError(Exception):
    """A failure the user can act on; ``str(err)`` is the one-line message."""

    exit_code: int = 1


class UsageError(HkticksError):
    """Bad input on the command line (invalid symbol, bad option value)."""

    exit_code = 2


class ConfigError(HkticksError):
    """Missing or invalid configuration (no token, unreadable config file)."""

    exit_code = 2


class TokenRejected(HkticksError):
    """The provider refused the token (ret 401 or an HTTP 401/403 handshake)."""

    exit_code = 3


class PlanTooSmall(HkticksError):
    """The symbol set does not fit the plan (or the provider answered 603)."""

    exit_code = 4


class OutputError(HkticksError):
    """An output path cannot be written (checked up front, or a write failed mid-run)."""

    exit_code = 5


class PipeClosed(OutputError):
    """The reader of standard output went away (``| head``): a normal way to stop."""


class SourceError(HkticksError):
    """A remote source (symbol list, REST API) failed or returned bad data."""

    exit_code = 6


class TicksLost(HkticksError):
    """A run ended with ticks received but not written (dropped, or failed to write)."""

    exit_code = 6


class NothingRead(HkticksError):
    """Files were given but not one trade could be read from them (every line skipped)."""

    exit_code = 1


class AlertsLost(HkticksError):
    """A run ended with alerts that a delivery channel (command, webhook) did not take."""

    exit_code = 6


class ConnectFailed(HkticksError):
    """No connection could ever be made to the provider, after every attempt allowed."""

    exit_code = 7
