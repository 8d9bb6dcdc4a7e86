"""The one exception hierarchy of splitbrain, and the exit codes it maps to.

Every error the project raises on purpose derives from :class:`SplitbrainError`. The CLI catches it at the top,
prints ``str(error)`` as one sentence, and exits with ``error.exit_code``. Anything else that escapes is a bug in
the harness itself (exit 255).
"""

from __future__ import annotations

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_UNKNOWN = 2
EXIT_BAD_INPUT = 254
EXIT_HARNESS_FAILED = 255


class SplitbrainError(Exception):
    """Root of all deliberate errors. Means the harness itself failed (exit 255) unless a subclass says else."""

    exit_code = EXIT_HARNESS_FAILED


class BadInput(SplitbrainError):
    """The user gave something we can't use: a malformed history, a wrong flag, an unreachable node (exit 254).

    ``location`` is where the problem is (``"history.jsonl:17"``, ``"--nodes"``, ``"n2 (10.77.0.12)"``); the
    message is one sentence without it, and ``str()`` joins the two.
    """

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, location: str | None = None):
        self.message = message
        self.location = location
        super().__init__(f"{location}: {message}" if location else message)


class MalformedHistory(BadInput):
    """A history file that can't be read as a valid history."""


class UnreachableNode(BadInput):
    """A node or host that can't be reached (SSH, TCP)."""


class ClusterError(SplitbrainError):
    """Setting up, faulting or tearing down a cluster failed in a way that is our problem, not the user's."""
