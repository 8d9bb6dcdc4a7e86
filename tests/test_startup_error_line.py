"""A node that dies at start with a stack trace is reported with its error line, not only the trace's last frames:
Node.js (like Java and Python) prints the error first and the frames after it, and the start-up error shows only the
log's last lines."""

from __future__ import annotations

from types import SimpleNamespace

from splitbrain.harness.run.startup import describe_logs

NODE_SYNTAX_ERROR = """/tmp/plugin/server.js:24
const store = new Map(;
                      ^

SyntaxError: Unexpected token ';'
    at wrapSafe (node:internal/modules/cjs/loader:1464:18)
    at Module._compile (node:internal/modules/cjs/loader:1495:20)
    at Module._extensions..js (node:internal/modules/cjs/loader:1623:10)
    at Module.load (node:internal/modules/cjs/loader:1266:32)
    at Module._load (node:internal/modules/cjs/loader:1091:12)
    at node:internal/main/run_main_module:28:49

Node.js v20.20.2"""


class LogCluster:
    """One node whose stderr log is ``stderr`` (``tail -n N`` honoured) and whose stdout log is empty."""

    def __init__(self, stderr: str):
        self.stderr = stderr

    def node_dir(self, name: str) -> str:
        return f"/tmp/fake/{name}"

    def host(self, name: str):
        def exec(argv, timeout, check):
            text = self.stderr if argv[-1].endswith("stderr.log") else ""
            return SimpleNamespace(returncode=0, stdout="\n".join(text.splitlines()[-int(argv[2]):]))
        return SimpleNamespace(exec=exec)


def test_the_error_line_above_the_last_frames_is_shown():
    msg = describe_logs(LogCluster(NODE_SYNTAX_ERROR), "n1")
    assert "SyntaxError: Unexpected token ';'" in msg
    assert msg.index("SyntaxError") < msg.index("run_main_module")  # first, then the tail
    assert "Node.js v20.20.2" in msg and "Module._compile" not in msg  # still only the tail's frames


def test_a_short_log_is_shown_as_it_is():
    msg = describe_logs(LogCluster("Error: listen EADDRINUSE: address already in use 10.77.0.11:7400"), "n1")
    assert msg.count("EADDRINUSE") == 1 and "..." not in msg


def test_a_log_without_an_error_line_shows_only_its_tail():
    chatter = "\n".join(f"starting step {i}" for i in range(30))
    msg = describe_logs(LogCluster(chatter), "n1")
    assert "starting step 29" in msg and "starting step 24" not in msg and "..." not in msg
