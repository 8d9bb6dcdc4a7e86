"""Adapter for the echo node (systems_under_test/echo): one register per node, no replication, for exploring
clusters and faults with ``splitbrain cluster``/``nemesis`` commands. Not a system to check for consistency."""

from __future__ import annotations

from splitbrain.harness.api import Client, System
from splitbrain.harness.jsonline_client import JsonLineClient


class EchoSystem(System):
    name = "echo"
    description = "a single-register echo node per host, for watching faults happen (no replication)"
    variants = {"correct": ""}
    workloads = ("register",)
    base_port = 7000
    package = "splitbrain.systems_under_test.echo"

    def node_command(self, python: str, config_path: str) -> list[str]:
        return [python, "-m", "splitbrain.systems_under_test.echo.server", "--config", config_path]

    def client(self, variant: str, options: dict) -> Client:
        return JsonLineClient()
