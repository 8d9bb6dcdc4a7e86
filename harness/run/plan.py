"""The plan of a test: its phases over time as one pure generator (:mod:`splitbrain.harness.generator`).

1. load: the workload's client ops (its own generator, or ``client_op`` staggered at ``rate``), with faults beside
   them: the seeded fault cycle of the test's fault kinds after a quiet spell (so the history shows the system
   healthy first), or an exact fault schedule (``replay``);
2. heal: once ``time_limit`` has passed, one ``heal-all`` by the nemesis;
3. final reads: after ``recovery_time``, each client thread does the workload's ``final_op`` once (if it has one).

Must not: touch a clock, a socket or a random source of its own (the plan is data; the interpreter runs it with the
test's seeded rng, and ``generator.simulate`` can run it without a cluster).
"""

from __future__ import annotations

from typing import Any

from splitbrain.harness import generator as g
from splitbrain.harness.generator.faults import HEAL_ALL
from splitbrain.harness.run.spec import TestSpec

def build_plan(spec: TestSpec, workload, faults: dict[str, Any], nodes: list[str],
              fault_schedule: list[dict] | None = None):
    """The generator of the whole test. ``faults``: the configured fault kinds by name (empty: no faults);
    ``fault_schedule``: exact faults (``{"time": ns, "f", "value"}``) instead of the seeded cycle."""
    options = spec.options
    if workload.client_gen is not None:
        client_gen = workload.client_gen(options, rate=spec.rate, nodes=len(nodes))
    else:
        client_gen = g.stagger(1.0 / spec.rate, lambda ctx: workload.client_op(ctx, options))
    main = g.clients(client_gen)
    if fault_schedule is not None:
        ops = [{"f": op["f"], "value": op.get("value"), "time": int(op["time"])} for op in fault_schedule
               if op["f"] != HEAL_ALL]
        if ops:
            main = g.any_of(main, g.nemesis(ops))
    elif faults:
        # The first fault comes after a quiet spell, so the history shows the system healthy first.
        cycle = g.nemesis_cycle(list(faults.values()), spec.nemesis_interval, spec.nemesis_duration, nodes=nodes)
        quiet = max(0.0, spec.nemesis_interval - spec.nemesis_duration)
        main = g.any_of(main, g.nemesis(g.phases(g.sleep(quiet), cycle)) if quiet else cycle)
    phases = [g.time_limit(spec.time_limit, main), g.heal_all()]
    if workload.final_op is not None:
        phases += [g.sleep(spec.recovery_time),
                   g.clients(g.each_thread(g.once(lambda ctx: workload.final_op(ctx, options))))]
    return g.phases(*phases)
