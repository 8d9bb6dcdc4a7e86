"""A small node for the lose-unfsynced tests: on start it reports what its data dir (its cwd) holds, into
``../fswriter-report-<pid>.json`` (outside the data dir); then writes one file with fsync, one without, appends a
second line to the first without fsync, and waits (at most 60 s) to be killed."""

import json
import os
import signal
import time

seen = {}
for name in sorted(os.listdir(".")):
    if name.endswith(".txt"):  # its own files only (the node it replaced may have left others)
        with open(name, encoding="utf-8", errors="surrogateescape") as f:
            seen[name] = f.read()
with open(f"../fswriter-report-{os.getpid()}.json", "w") as f:
    json.dump({"seen": {k: v.encode("utf-8", "surrogateescape").hex() for k, v in seen.items()},
               "time": time.time()}, f)
if not seen:
    with open("synced.txt", "w") as f:
        f.write("durable\n")
        f.flush()
        os.fsync(f.fileno())
    dfd = os.open(".", os.O_RDONLY)
    os.fsync(dfd)  # the new file's directory entry is durable too
    os.close(dfd)
    with open("synced.txt", "a") as f:
        f.write("not fsynced\n")
    with open("unsynced.txt", "w") as f:
        f.write("never fsynced\n")
    with open("../fswriter-ready", "w") as f:
        f.write("ready\n")
# No time.sleep: under libfaketime with DONT_FAKE_MONOTONIC it fails. SIGALRM ends the process after 60 s.
signal.alarm(60)
signal.pause()
