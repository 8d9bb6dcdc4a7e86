"""Test-only hosts: ``sshd_hosts.py`` starts real OpenSSH servers in namespaces so that the SSH mode can be tried and
tested on one machine (``splitbrain cluster up --ssh``, tests/test_ssh*.py).

Must not: be used by a real run against real remote hosts (nothing outside the ``cluster`` command and the tests
imports it).
"""
