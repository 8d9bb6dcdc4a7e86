"""The one module a plugin imports: everything a user's system, workload or checker needs, under stable names.

A plugin (``docs/your-own-system.md``) writes ``from splitbrain.api import System, Client, register_system``; where
these live inside the project may change, this module's names do not. It re-exports:

* contracts: :class:`System`, :class:`Client`, :class:`ClusterView`, :class:`Invocation`, :class:`Completion`,
  :class:`NodeAddress`, :func:`node_config`, and the optional capabilities :class:`KnowsLeader`,
  :class:`KnowsPrimaries`, :class:`Ready`, :class:`ReportsRoles`, :class:`ReportsState`; hosts: :class:`Host`,
  :class:`ExecResult`, :class:`ProcessHandle`;
* client errors: :func:`completion_for_error`, :func:`completion_for_exception` (the one fail/info table),
  :func:`register_error` and :func:`register_exception` (a plugin's own codes and its library's exceptions),
  :class:`JsonLineClient` for servers that speak newline-delimited JSON and :class:`JsonLineConnection`, one such
  connection (for a system's ``leader()``/``primaries()``/``ready()`` asking its nodes);
* registries: :func:`register_system`, :func:`register_workload`, :class:`Workload`, and ``MODELS``/:class:`Model`
  for consistency models;
* verdicts and errors: :class:`Verdict`, :class:`SplitbrainError`, :class:`BadInput`, :class:`ClusterError`.

Must not: define anything itself (it only re-exports), or import the runner, the CLI or a checker's search, so that
importing a plugin stays cheap.
"""

from splitbrain.checkers.models import MODELS, Model
from splitbrain.harness.api import (
    Client,
    ClusterView,
    Completion,
    ExecResult,
    Host,
    Invocation,
    KnowsLeader,
    KnowsPrimaries,
    NodeAddress,
    ProcessHandle,
    Ready,
    ReportsRoles,
    ReportsState,
    System,
    node_config,
)
from splitbrain.harness.client_errors import (
    completion_for_error,
    completion_for_exception,
    register_error,
    register_exception,
)
from splitbrain.harness.jsonline_client import JsonLineClient, JsonLineConnection
from splitbrain.harness.systems import register_system
from splitbrain.harness.workloads import Workload, register_workload
from splitbrain.history.errors import BadInput, ClusterError, SplitbrainError
from splitbrain.history.verdict import Verdict

__all__ = [
    "BadInput", "Client", "ClusterError", "ClusterView", "Completion", "ExecResult", "Host", "Invocation",
    "JsonLineClient", "JsonLineConnection", "KnowsLeader", "KnowsPrimaries", "MODELS", "Model", "NodeAddress", "ProcessHandle", "Ready",
    "ReportsRoles", "ReportsState", "SplitbrainError", "System", "Verdict", "Workload", "completion_for_error",
    "completion_for_exception", "node_config", "register_error", "register_exception", "register_system",
    "register_workload",
]
