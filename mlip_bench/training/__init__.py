"""Training modules: data generators, MTP fitting through motep, oracle calls and active learning.

``mlip_bench.training.fit_mtp`` is the fitting module (its function of the same name is
``mlip_bench.training.fit_mtp.fit_mtp``).

Training sits beside the task engine: it uses engine, properties, adapters, data and metrics; nothing
below it imports it. A fitted potential is an ordinary ``mtp:`` potential that the suite scores.
"""

from mlip_bench.training.bayesian import BayesianMtp, calibration, fit_bayesian
from mlip_bench.training.committee_fit import CommitteeFit, fit_committee
from mlip_bench.training.config import load_config
from mlip_bench.training.fit_mtp import MtpFit, MtpFitSettings, training_sha256
from mlip_bench.training.learning_curve import LearningCurve, compare
from mlip_bench.training.levels import LevelPoint, LevelsSettings, fit_levels
from mlip_bench.training.levels_pipeline import LevelsResult, train_levels
from mlip_bench.training.levels_report import write_pareto_figure
from mlip_bench.training.model_card import ModelCard, card_from_fit, read_card, write_card
from mlip_bench.training.oracle import Oracle
from mlip_bench.training.pipeline import train
from mlip_bench.training.systematic_set import SystematicSetSettings

__all__ = [
    "BayesianMtp",
    "CommitteeFit",
    "LearningCurve",
    "LevelPoint",
    "LevelsResult",
    "LevelsSettings",
    "ModelCard",
    "MtpFit",
    "MtpFitSettings",
    "Oracle",
    "SystematicSetSettings",
    "calibration",
    "card_from_fit",
    "compare",
    "fit_bayesian",
    "fit_committee",
    "fit_levels",
    "load_config",
    "read_card",
    "train",
    "train_levels",
    "training_sha256",
    "write_card",
    "write_pareto_figure",
]
