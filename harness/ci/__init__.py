"""Splitbrain in continuous integration: ``suite.py`` (a matrix of tests with expectations, summaries for people and
machines: HTML, JSON, JUnit XML; its page is ``suite.html.j2``), ``replay.py`` (what a stored run needs to be run
again exactly) and ``pytest_plugin.py`` (the ``pytest11`` entry point: the ``splitbrain`` fixture).

Must not: decide a verdict itself (verdicts come from ``splitbrain.harness.run.analysis``; a suite only compares
them with what was expected).
"""
