"""splitbrain tests inside pytest, with the ``splitbrain`` fixture of the pytest plugin (installed with
splitbrain). Run as root: ``.venv/bin/python -m pytest examples/pytest --junitxml=junit.xml``.

A false verdict (and, unless allowed, an unknown one) fails the test; the message names the run directory, the
seed and the ``splitbrain replay`` command, and JUnit XML gets them as properties.
"""


def test_quorum_kv_is_linearizable_under_partitions(splitbrain):
    splitbrain.run(system="quorum-kv", workload="register", nemesis="partition", time_limit=8,
                   nemesis_interval=3, nemesis_duration=2, seed=1)


def test_weak_quorums_are_caught(splitbrain):
    # expect="invalid": the test fails if splitbrain stops finding this seeded bug
    splitbrain.run(system="quorum-kv", variant="r1w1", workload="register", nemesis="partition", time_limit=8,
                   nemesis_interval=3, nemesis_duration=2, seed=1, expect="invalid")
