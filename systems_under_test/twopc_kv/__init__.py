"""A sharded key-value store with two-phase commit across shards, with seeded bugs.

Each node owns the keys of its shard and is a participant for them; any node coordinates the transactions clients
send it. Modules, one job each: ``txlog`` (the durable log of prepares, commits and decisions, fsynced before
anything is acknowledged), ``participant`` (locks, prepare/commit/abort, recovery of in-doubt transactions),
``coordinator`` (splitting a transaction by shard, the two phases, answering participants' inquiries), ``peers``
(multiplexed connections), ``server`` (config, TCP, routing; the entry point). Standard library only; imports
nothing from the harness.

Like every 2PC, it blocks: a participant that voted yes keeps its locks until it learns the decision, and only the
coordinator knows it. If the coordinator dies (or is paused, or cut off) meanwhile, those keys stay locked until
it is back; transactions on them abort on lock timeouts or time out (``info`` in the history).
"""
