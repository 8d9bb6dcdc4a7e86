"""Stands for a C extension in tests/test_import_graph.py: it imports nothing of the project."""
