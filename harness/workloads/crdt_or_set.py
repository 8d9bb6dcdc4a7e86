"""``or-set``: the issue's name for the add-wins set workload; the same workload as ``crdt-set`` (see
harness/workloads/crdt_set.py), registered under both names."""

from __future__ import annotations

import dataclasses

from splitbrain.harness.workloads.crdt_set import WORKLOAD as _CRDT_SET

WORKLOAD = dataclasses.replace(_CRDT_SET, name="or-set")
