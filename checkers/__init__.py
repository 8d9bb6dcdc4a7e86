"""Checkers: read a history, return a verdict with evidence. They know the history format and nothing else."""
