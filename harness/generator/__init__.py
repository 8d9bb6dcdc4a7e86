"""Pure, seeded generators of ops and the scheduling logic that runs them (Jepsen's ``jepsen.generator``).

A generator is an immutable object: ``op(ctx) -> (GenOp | Pending | None, next)`` and
``update(ctx, event) -> next``; time and randomness come only from the context. Plain data lifts into generators: a
dict is one op, a function ``ctx -> dict`` is an endless stream, a list runs in order. See ``core`` for the
protocol, ``combinators`` for the building blocks, ``faults`` for fault schedules and the final phase,
``scheduler`` for the state machine the interpreter (splitbrain.harness.run.interpreter) runs, and ``simulate`` for running a
generator in simulated time.
"""

from splitbrain.harness.generator.combinators import (any_of, clients, cycle, delay, each_thread, limit, mix, nemesis,
                                           on_threads, once, phases, repeat, seq, sleep, stagger, synchronize,
                                           time_limit)
from splitbrain.harness.generator.core import (EMPTY, NEMESIS, PENDING, Context, GenOp, Generator, GeneratorError, Pending,
                                    lift)
from splitbrain.harness.generator.faults import HEAL_ALL, final_phase, heal_all, nemesis_cycle
from splitbrain.harness.generator.scheduler import DONE, Scheduler
from splitbrain.harness.generator.simulate import simulate

__all__ = [
    "Context", "GenOp", "Generator", "GeneratorError", "Pending", "PENDING", "EMPTY", "NEMESIS", "lift",
    "any_of", "clients", "cycle", "delay", "each_thread", "limit", "mix", "nemesis", "on_threads", "once",
    "phases", "repeat", "seq", "sleep", "stagger", "synchronize", "time_limit",
    "HEAL_ALL", "final_phase", "heal_all", "nemesis_cycle",
    "Scheduler", "DONE", "simulate",
]
