"""crdt-store: an always-available replicated store of CRDTs with causal broadcast and anti-entropy.

See ``server.py`` for the wire protocol. This package imports nothing from the project (it is shipped as a plain
directory to remote hosts).
"""
