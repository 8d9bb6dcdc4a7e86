"""The verdict, written once: true (the history keeps the promise), false (it does not: there is evidence) or
unknown (the checker could not tell: time or memory limit, a crash, no data).

Ground module: it imports only :mod:`splitbrain.history.errors`, so checkers and reports may import it.

The JSON form of a verdict is unchanged and is what results.json and every checker's ``"valid"`` hold:
``true``, ``false`` or ``"unknown"`` (:attr:`Verdict.json`, :meth:`Verdict.of`). Combining: any false gives false,
else any unknown gives unknown, else true. Exit codes: 0 valid, 1 invalid, 2 unknown (``errors.EXIT_*``).

Must not: read anything that is not exactly ``True`` or ``False`` as a definite verdict (``1``, ``"true"`` and
``None`` are unknown): a checker that answers garbage never passes.
"""

from __future__ import annotations

import enum
from typing import Any, Iterable

from splitbrain.history.errors import EXIT_INVALID, EXIT_UNKNOWN, EXIT_VALID

#: The JSON form of an unknown verdict.
UNKNOWN = "unknown"


class Verdict(enum.Enum):
    TRUE = "valid"
    FALSE = "invalid"
    UNKNOWN = "unknown"

    @classmethod
    def of(cls, value: Any) -> "Verdict":
        """The verdict of a JSON ``valid`` value (or a Verdict): ``True``/``False`` by identity, anything else
        unknown."""
        if isinstance(value, Verdict):
            return value
        if value is True:
            return cls.TRUE
        if value is False:
            return cls.FALSE
        return cls.UNKNOWN

    @classmethod
    def combine(cls, values: Iterable[Any]) -> "Verdict":
        """Any false -> false, else any unknown -> unknown, else true (also for no values at all)."""
        verdicts = [cls.of(v) for v in values]
        if cls.FALSE in verdicts:
            return cls.FALSE
        if cls.UNKNOWN in verdicts:
            return cls.UNKNOWN
        return cls.TRUE

    @property
    def json(self) -> bool | str:
        """What results.json holds: ``True``, ``False`` or ``"unknown"``."""
        return {Verdict.TRUE: True, Verdict.FALSE: False}.get(self, UNKNOWN)

    @property
    def word(self) -> str:
        """``valid``, ``invalid`` or ``unknown`` (also the report's CSS class)."""
        return self.value

    @property
    def label(self) -> str:
        """The word as the command line prints it: ``INVALID`` in capitals, so it stands out."""
        return self.value.upper() if self is Verdict.FALSE else self.value

    @property
    def exit_code(self) -> int:
        return {Verdict.TRUE: EXIT_VALID, Verdict.FALSE: EXIT_INVALID}.get(self, EXIT_UNKNOWN)
