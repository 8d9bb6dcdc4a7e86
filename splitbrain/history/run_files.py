"""The names of the files in a run directory (``store/<test>/<timestamp>/``), defined once: the controller writes
them (:mod:`splitbrain.harness.run.run_dirs`), reports read them (:mod:`splitbrain.reports.run_dir`). What each file
holds: docs/ARCHITECTURE.md, "Run directory"; the history's format: docs/history-format.md.
"""

TEST_FILE = "test.json"                 # the TestSpec, its plugins, the reproduce command, versions
HISTORY_FILE = "history.jsonl"          # the ops, one JSON object per line
RESULTS_FILE = "results.json"           # {"valid", "results": {checker: result}}
ANNOTATIONS_FILE = "annotations.jsonl"  # leader changes, claims, how long ready() took
NODE_STATE_FILE = "node-state.json"     # what the nodes reported at the end
CLUSTER_FILE = "cluster.json"           # the run id and the nodes
REPORT_FILE = "report.html"
NODES_DIR = "nodes"                     # nodes/<node>/: logs, config, data
#: A directory with none of these is not a run.
RUN_FILES = (TEST_FILE, HISTORY_FILE, RESULTS_FILE)
