"""Measure: a level-16 MTP fitted by the suite (motep) to Li-Al D_train, scored on the validation set.

Not collected by pytest (a measurement of tens of minutes on one core). Run from the repository root::

    OMP_NUM_THREADS=1 .venv/bin/python tests/benchmarks/fit_li_al_level16.py [--iterations N] [--subset N]
    OMP_NUM_THREADS=1 .venv/bin/python tests/benchmarks/fit_li_al_level16.py --calibration

Writes reference_data/trained/li-al-level16/{fitted.mtp, model_card.yaml, measurement.json}. With
--calibration (after the fit): the Bayesian linear model on the fitted MTP's basis (fitted to D_train
energies) and a 3-member committee of level-8 fits (seeds 0-2), their σ against the errors on the
validation set, written to calibration.json (coefficients reported, not asserted). The
validation energy RMSE (meV/atom) is computed through the ``mtp:`` adapter, as the suite's
rmse-li-al-validation task does; the paper's MTP_Train gives about 2 meV/atom (paper 001).
Species order Li, Al: the order of /work/shared/data/li_al/mtp/*.mtp (types in increasing Z).

A fit continues in stages (``--initial`` the previous stage's fitted.mtp, ``--rotate`` another subset
for the BFGS); ``motep_native_overlay.sh`` builds motep's C extension for this CPU (2.5x faster).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import ase.io
import numpy as np

from mlip_bench.adapters.registry import load_potential
from mlip_bench.paths import resolve_input_file
from mlip_bench.training.fit_mtp import MtpFitSettings, fit_mtp

OUT = Path(__file__).resolve().parents[2] / "reference_data" / "trained" / "li-al-level16"


def energy_rmse_meV_per_atom(spec: str, frames: list) -> float:
    calc = load_potential(spec).calculator()
    errors = []
    for atoms in frames:
        reference = atoms.get_potential_energy() / len(atoms)
        work = atoms.copy()
        work.calc = calc
        errors.append(work.get_potential_energy() / len(atoms) - reference)
    return 1000.0 * float(np.sqrt(np.mean(np.square(errors))))


def calibration_main(out: Path, train: list, validation: list) -> None:
    import tempfile

    from mlip_bench.adapters.uncertainty import bayesian_energy_std
    from mlip_bench.training.bayesian import calibration, fit_bayesian
    from mlip_bench.training.committee_fit import fit_committee

    reference = np.array([a.get_potential_energy() / len(a) for a in validation])
    start = time.perf_counter()
    model = fit_bayesian(out / "fitted.mtp", ("Li", "Al"), train)
    mtp = load_potential(f"mtp:{out / 'fitted.mtp'};species=Li,Al").calculator()
    sigma, error = [], []
    for atoms, ref in zip(validation, reference, strict=True):
        work = atoms.copy()
        work.calc = mtp
        error.append(work.get_potential_energy() / len(atoms) - ref)
        sigma.append(bayesian_energy_std(model, atoms))
    bayes_seconds = time.perf_counter() - start
    result: dict = {
        "bayesian": {
            "model": "fitted.mtp (level 16), energies of D_train",
            "noise_std_meV_per_atom": 1000 * model.noise_std_eV_per_atom,
            "prior_precision": model.prior_precision,
            "mean_sigma_meV_per_atom": 1000 * float(np.mean(sigma)),
            "rmse_meV_per_atom": 1000 * float(np.sqrt(np.mean(np.square(error)))),
            "calibration": calibration(sigma, error),
            "seconds": bayes_seconds,
        }
    }
    print(json.dumps(result, indent=2))
    start = time.perf_counter()
    settings = MtpFitSettings(
        level=8, species=("Li", "Al"), min_dist_A=1.72277, max_iterations=15, nonlinear_structures=20
    )
    with tempfile.TemporaryDirectory() as tmp:
        committee = fit_committee(train, settings, workdir=Path(tmp), size=3)
        calc = load_potential(committee.spec).calculator()
        sigma, error = [], []
        for atoms, ref in zip(validation, reference, strict=True):
            work = atoms.copy()
            work.calc = calc
            error.append(work.get_potential_energy() / len(atoms) - ref)
            sigma.append(calc.results["uncertainty"])
    result["committee"] = {
        "model": "3 level-8 MTPs, seeds 0-2, D_train (nonlinear steps on 20 structures, 15 BFGS iterations)",
        "member_train_rmse_meV_per_atom": [f.energy_rmse_meV_per_atom for f in committee.fits],
        "mean_sigma_meV_per_atom": 1000 * float(np.mean(sigma)),
        "rmse_meV_per_atom": 1000 * float(np.sqrt(np.mean(np.square(error)))),
        "calibration": calibration(sigma, error),
        "seconds": time.perf_counter() - start,
    }
    (out / "calibration.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def _mpi_ranks() -> int:
    from motep.parallel import world

    return int(world.size)


def _motep_extension() -> str:
    """Which build of motep's C extension ran (the PyPI wheel's, or a native overlay's)."""
    from motep.potentials.mtp.cext import _mtp_cext

    return str(_mtp_cext.__file__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=30, help="BFGS iterations (default 30)")
    parser.add_argument("--subset", type=int, default=20, help="structures for the nonlinear steps (0: all)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--initial", type=Path, default=None, help="continue from this .mtp (same settings)")
    parser.add_argument("--force-weight", type=float, default=0.01, help="forces' weight in the loss (paper 002: 0.01)")
    parser.add_argument(
        "--rotate", type=int, default=0, help="rotate D_train by N before the evenly spaced subset is taken"
    )
    parser.add_argument("--calibration", action="store_true", help="calibrate σ of the fitted potential")
    args = parser.parse_args()
    train_file = resolve_input_file("li_al/train.extxyz.gz")
    validation_file = resolve_input_file("li_al/validation.extxyz.gz")
    train = list(ase.io.iread(train_file))
    validation = list(ase.io.iread(validation_file))
    if args.calibration:
        calibration_main(args.out, train, validation)
        return
    settings = MtpFitSettings(
        level=16,
        species=("Li", "Al"),
        cutoff_A=5.0,
        min_dist_A=1.72277,  # the paper MTPs' min_dist (the data's closest pairs)
        force_weight=args.force_weight,
        max_iterations=args.iterations,
        nonlinear_structures=args.subset,
        seed=0,
    )
    start = time.perf_counter()
    ordered = train[args.rotate :] + train[: args.rotate]  # another subset for the nonlinear steps
    fit = fit_mtp(ordered, settings, workdir=args.out, initial=args.initial)
    fit_seconds = time.perf_counter() - start
    from motep.parallel import world

    if world.rank != 0:  # under mpirun: rank 0 scores and writes
        return
    spec = fit.spec
    ours = energy_rmse_meV_per_atom(spec, validation)
    paper = energy_rmse_meV_per_atom("mtp:li_al/mtp/MTP_train.mtp;species=Li,Al", validation)
    result = {
        "spec": spec,
        "level": settings.level,
        "n_train": fit.n_structures,
        "n_validation": len(validation),
        "train_energy_rmse_meV_per_atom": fit.energy_rmse_meV_per_atom,
        "train_force_rmse_eV_per_A": fit.force_rmse_eV_per_A,
        "validation_energy_rmse_meV_per_atom": ours,
        "paper_MTP_train_validation_energy_rmse_meV_per_atom": paper,
        "ratio_to_paper": ours / paper,
        "fit_wall_seconds": fit_seconds,
        "initial": str(args.initial) if args.initial else "untrained level-16 basis",
        "rotate": args.rotate,
        "motep_extension": _motep_extension(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", ""),
        "mpi_ranks": _mpi_ranks(),
        "settings": {k: getattr(settings, k) for k in settings.__dataclass_fields__},
    }
    (args.out / "measurement.json").write_text(json.dumps(result, indent=2, default=list) + "\n")
    print(json.dumps(result, indent=2, default=list))
    try:
        from mlip_bench.training.model_card import card_from_fit, write_card

        card = card_from_fit(
            fit,
            oracle={"name": "DFT (paper 001 Li-Al D_train)", "dataset": str(train_file)},
            validation_errors={"li-al-validation energy RMSE meV/atom": ours},
        )
        write_card(card, args.out / "model_card.yaml")
    except ImportError as exc:  # the card can be written later from measurement.json
        print(f"no model card: {exc}")


if __name__ == "__main__":
    main()
