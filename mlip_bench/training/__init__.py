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
from mlip_bench.training.model_card import ModelCard, card_from_fit, read_card, write_card
from mlip_bench.training.oracle import Oracle
from mlip_bench.training.pipeline import train

__all__ = [
    "BayesianMtp",
    "CommitteeFit",
    "LearningCurve",
    "ModelCard",
    "MtpFit",
    "MtpFitSettings",
    "Oracle",
    "calibration",
    "card_from_fit",
    "compare",
    "fit_bayesian",
    "fit_committee",
    "load_config",
    "read_card",
    "train",
    "training_sha256",
    "write_card",
]
