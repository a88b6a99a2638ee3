"""One error shape and one exit-code scheme for every command, local or through the services.

Every error is one line on stderr, `Error: <message>`; a remote one names the gRPC status and
the service address. Exit codes:

    0    success (a replay that completed)
    1    refused or failed: bad input, unknown run or name, does not fit, a run that failed or
         was cancelled (local: a TwinError; remote: INVALID_ARGUMENT, NOT_FOUND,
         RESOURCE_EXHAUSTED, FAILED_PRECONDITION, ...)
    2    usage: an unknown option or a missing argument (click)
    3    unreachable: the service cannot be reached or did not answer in time (UNAVAILABLE,
         DEADLINE_EXCEEDED)
    130  interrupted (Ctrl-C); 143 terminated (SIGTERM)
"""

from __future__ import annotations

import click

from twin.errors import TwinError

REFUSED, USAGE, UNREACHABLE, INTERRUPTED = 1, 2, 3, 130
UNREACHABLE_CODES = ("UNAVAILABLE", "DEADLINE_EXCEEDED")
MAX_QUOTED = 200  # longest server message repeated to the user


class CliError(click.ClickException):
    """A one-line error with the scheme's exit code."""

    def __init__(self, message: str, exit_code: int = REFUSED):
        super().__init__(message)
        self.exit_code = exit_code


def from_twin(exc: TwinError) -> CliError:
    from services.common.messages import one_line
    return CliError(one_line(exc), REFUSED)


def from_rpc(exc, where: str) -> CliError:
    """A grpc.RpcError from the service at `where` (grpc is imported by the caller, not here)."""
    code = exc.code().name if hasattr(exc, "code") else "UNKNOWN"
    details = (exc.details() if hasattr(exc, "details") else str(exc)) or ""
    if len(details) > MAX_QUOTED:
        details = details[:MAX_QUOTED] + "..."
    return CliError(f"{code} from {where}: {details}", UNREACHABLE if code in UNREACHABLE_CODES else REFUSED)

RUN_EXIT = {"complete": 0, "failed": REFUSED, "cancelled": REFUSED, "interrupted": INTERRUPTED}  # by final status
