"""Interoperability: other conventions, PyTorch models and logged training runs.

:mod:`.conventions` converts a user's loss factor, output scale and hidden bias to the
canonical model exactly and back (docs/math/model.rst, "Converting other conventions");
:mod:`.torch_model` imports a two-layer PyTorch network with its data and learning rate;
:mod:`.logged_run` compares a saved training log with the limit and the finite-σ run.
torch and matplotlib are imported only by the functions that need them.
"""

from .conventions import LOSS_FACTORS, Convention, UserFiniteRun, UserTrajectory, bias_orthogonal_inputs
from .logged_run import LogComparison, TrainingLog, compare_log, load_training_log, save_training_log
from .torch_model import SIGMA_RULE, ImportedModel, from_parameters, from_torch

__all__ = [
    "LOSS_FACTORS",
    "SIGMA_RULE",
    "Convention",
    "ImportedModel",
    "LogComparison",
    "TrainingLog",
    "UserFiniteRun",
    "UserTrajectory",
    "bias_orthogonal_inputs",
    "compare_log",
    "from_parameters",
    "from_torch",
    "load_training_log",
    "save_training_log",
]
