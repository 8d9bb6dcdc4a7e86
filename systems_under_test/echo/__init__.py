"""echo: a tiny node for exploring clusters and faults (see server.py)."""
