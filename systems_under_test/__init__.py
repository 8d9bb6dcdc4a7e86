"""The shipped systems under test: plain servers that import nothing from the harness."""
