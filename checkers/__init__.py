"""Checkers: read a history, return a verdict with evidence. They know the history format and nothing else."""
from checkers.causal import check_causal, check_delivery_order  # noqa: F401
from checkers.convergence import check_convergence  # noqa: F401
from checkers.linearizable import check_linearizable  # noqa: F401
from checkers.models import MODELS, Model, get_model  # noqa: F401
