"""Checkers: read a history, return a verdict with evidence. They know the history format and nothing else."""
from splitbrain.checkers.causal import check_causal  # noqa: F401
from splitbrain.checkers.delivery_order import check_delivery_order  # noqa: F401
from splitbrain.checkers.convergence import check_convergence  # noqa: F401
from splitbrain.checkers.linearizable import check_linearizable  # noqa: F401
from splitbrain.checkers.models import MODELS, Model, get_model  # noqa: F401
