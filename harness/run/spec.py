"""A test is plain data naming its parts (Jepsen's test map): system, variant, workload, nodes, nemesis, timing,
seed. ``TestSpec`` is what ``run`` builds from flags (or a TOML file), what test.json stores, and what ``replay``
reads back, so a stored run can always be re-run exactly.
"""

from __future__ import annotations

import dataclasses
import json
import random
import shlex
from dataclasses import dataclass, field

from splitbrain.history.errors import BadInput
from splitbrain.nemesis.targets import TARGETS

NEMESIS_NAMES = ("partition", "kill", "pause", "clock", "loss", "crash", "chase", "flap", "voter-restart", "delay",
                 "duplicate", "reorder", "rate", "lose-unfsynced", "corrupt")


@dataclass(frozen=True)
class TestSpec:
    __test__ = False  # not a pytest test class, despite the name
    system: str
    workload: str
    variant: str = "correct"
    nodes: int = 3
    nemesis: tuple[str, ...] = ()
    time_limit: float = 20.0
    concurrency: int | None = None  # default: 2 per node
    rate: float = 100.0             # client ops per second, all threads together (mean)
    seed: int = field(default_factory=lambda: random.randrange(2**31))
    test_name: str | None = None
    nemesis_interval: float = 5.0   # a fault starts every this many seconds...
    nemesis_duration: float = 3.0   # ...and is healed this many seconds later
    recovery_time: float = 3.0      # after the final heal, before final reads
    op_timeout: float = 1.0         # per client request
    hosts_file: str | None = None   # remote mode (SSH) when set
    options: dict = field(default_factory=dict)  # workload/system options (value_range, r, w, ...)
    nemesis_targets: tuple[str, ...] = ()  # which nodes process faults pick (splitbrain.nemesis.targets.TARGETS); () = each
    #                                        fault's own default
    plugins: tuple[str, ...] = ()   # plugin modules the test needs (loaded before it runs again)
    plugin_paths: dict = field(default_factory=dict)  # plugin module -> directory to put on sys.path, if needed

    def __post_init__(self):
        if self.nodes < 1 or self.nodes > 25:
            raise BadInput(f"--nodes must be between 1 and 25, got {self.nodes}", "--nodes")
        for n in self.nemesis:
            if n not in NEMESIS_NAMES:
                raise BadInput(f"unknown fault {n!r} (known: {', '.join(NEMESIS_NAMES)} or none)", "--nemesis")
        if self.time_limit <= 0:
            raise BadInput("--time-limit must be positive", "--time-limit")
        if self.rate <= 0:
            raise BadInput("--rate must be positive", "--rate")
        if self.concurrency is not None and self.concurrency < 1:
            raise BadInput("--concurrency must be at least 1", "--concurrency")
        for t in self.nemesis_targets:
            if t not in TARGETS:
                raise BadInput(f"unknown target {t!r} (known: {', '.join(TARGETS)})", "--nemesis-targets")

    @property
    def threads(self) -> int:
        return self.concurrency or 2 * self.nodes

    @property
    def name(self) -> str:
        if self.test_name:
            return self.test_name
        faults = "_".join(self.nemesis) or "none"
        return f"{self.system}-{self.variant}-{self.workload}-{faults}"

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["nemesis"] = list(self.nemesis)
        d["nemesis_targets"] = list(self.nemesis_targets)
        d["plugins"] = list(self.plugins)
        d["concurrency"] = self.threads
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TestSpec":
        known = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        kw["nemesis"] = tuple(kw.get("nemesis", ()))
        kw["nemesis_targets"] = tuple(kw.get("nemesis_targets", ()))
        kw["plugins"] = tuple(kw.get("plugins", ()))
        return cls(**kw)

    def command(self) -> str:
        """The exact command that reproduces this test (with its plugins, and the directories they were imported
        from on ``PYTHONPATH`` where they are not installed)."""
        args = ["splitbrain", *[w for p in self.plugins for w in ("--plugin", p)], "run", "--system", self.system, "--variant", self.variant, "--workload",
                self.workload, "--nodes", str(self.nodes), "--nemesis", ",".join(self.nemesis) or "none",
                "--time-limit", f"{self.time_limit:g}", "--concurrency", str(self.threads), "--rate",
                f"{self.rate:g}", "--seed", str(self.seed)]
        if self.test_name:
            args += ["--test-name", self.test_name]
        if (self.nemesis_interval, self.nemesis_duration) != (5.0, 3.0):
            args += ["--nemesis-interval", f"{self.nemesis_interval:g}",
                     "--nemesis-duration", f"{self.nemesis_duration:g}"]
        if self.nemesis_targets:
            args += ["--nemesis-targets", ",".join(self.nemesis_targets)]
        if self.hosts_file:
            args += ["--hosts", self.hosts_file]
        for k, v in sorted(self.options.items()):
            if k not in ("workload", "op_timeout"):  # filled in by the runner
                args += ["--option", f"{k}={json.dumps(v)}"]
        paths = [self.plugin_paths[p] for p in self.plugins if self.plugin_paths.get(p)]
        prefix = f"PYTHONPATH={shlex.quote(':'.join(dict.fromkeys(paths)))} " if paths else ""
        return prefix + shlex.join(args)


def parse_nemesis(text: str) -> tuple[str, ...]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if parts == ["none"] or not parts:
        return ()
    if "none" in parts:
        raise BadInput("'none' can't be combined with other faults", "--nemesis")
    for p in parts:
        if p not in NEMESIS_NAMES:
            raise BadInput(f"unknown fault {p!r} (known: {', '.join(NEMESIS_NAMES)} or none)", "--nemesis")
    return tuple(dict.fromkeys(parts))


def parse_targets(text: str) -> tuple[str, ...]:
    """``--nemesis-targets``: a comma-separated list of splitbrain.nemesis.targets.TARGETS (empty: the faults' defaults)."""
    parts = tuple(dict.fromkeys(p.strip() for p in (text or "").split(",") if p.strip()))
    for p in parts:
        if p not in TARGETS:
            raise BadInput(f"unknown target {p!r} (known: {', '.join(TARGETS)})", "--nemesis-targets")
    return parts
