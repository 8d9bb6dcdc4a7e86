"""A leaderless quorum key-value store (multi-writer ABD registers, grow-only sets, PN-counters), with seeded bugs.

Every node is a replica and a coordinator: a client talks to any node, which runs the quorum rounds over all nodes.
Modules, one job each: ``records`` (record shapes, version order, merges: pure), ``storage`` (write-ahead log +
snapshot, fsync before acknowledging), ``peers`` (multiplexed connections to the other replicas), ``coordinator``
(the quorum algorithm and its variants), ``server`` (config, TCP, routing; the entry point), ``launch`` (a local
loopback cluster for tests and benchmarks). Standard library only; imports nothing from the harness.
"""
