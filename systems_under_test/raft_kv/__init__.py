"""raft_kv: a replicated key-value store on Raft, with seeded bugs that real Raft implementations have had.

Modules, one job each: ``core`` (the pure Raft state machine: elections, log matching, commit rule, ReadIndex,
snapshots), ``state_machine`` (registers/counters/sets and the client-session dedup table), ``storage`` (SQLite
durable state), ``net`` (peer links), ``server`` (the asyncio driver and the client protocol). Imports nothing
outside the standard library and this package: it is shipped to remote hosts as a plain directory.

Variants (config ``variant``): ``correct``, ``stale-read``, ``commit-old-term``, ``volatile-vote``, ``no-dedup``.
"""
