"""Kinds that ask whether a potential orders an alloy's configurations as DFT does (paper 001,
Sec. 2.1-2.2): ``phase_rmse`` (energy error per phase, Fig. 1c, d), ``ranking`` (ranking errors
among the orderings of a phase, Fig. 2b, f-k), ``lec`` (lowest-energy configuration of each
phase, Fig. 2d, e) and ``ground_phase`` (the lattice of lowest energy at each composition, Fig. 2c).

Groups are phases (the dataset's ``label``), or compositions for ``ground_phase``; every group
value can be traced to its structures through the items.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mlip_bench.engine.kinds.alloy_common import (
    GROUP_BY,
    KNOWN,
    by,
    energies,
    is_known,
    lowest,
    score_frames,
)
from mlip_bench.engine.kinds.base import GroupValues, Outcome, TaskContext, TaskKind
from mlip_bench.engine.parameters import NUMBER, Param, array
from mlip_bench.metrics import error_stats, lowest_energy_configuration, ranking_errors


class PhaseRmseKind(TaskKind):
    """Energy RMSE of each phase, and how many phases fall in bands of it.

    Parameters: ``bands_meV_per_atom`` (list of [low, high]; default [[2, 14], [0, 15]]: the
    paper's counts), ``known_suffix`` ("-org").
    """

    packages = ("pymatgen",)

    name = "phase_rmse"
    needs_dataset = True
    parameters = (
        GROUP_BY,
        KNOWN,
        Param(
            "bands_meV_per_atom",
            ((2, 14), (0, 15)),
            array(array(NUMBER, min_items=2, max_items=2)),
            "meV/atom",
            "[low, high] bands of phase RMSE counted",
        ),
    )
    #: one count per band: ``[known_|hypothetical_]phases_rmse_<low>_<high>_meV``
    produces_patterns = (r"(known_|hypothetical_)?phases_rmse_[-+.\w]+_[-+.\w]+_meV",)
    produces = frozenset(
        {"n_phases", "median_phase_rmse_meV_per_atom", "energy_rmse_meV_per_atom"}
        | {f"{who}phases_rmse_{band}_meV" for who in ("", "known_", "hypothetical_") for band in ("2_14", "0_15")}
    )
    plots: ClassVar[dict[str, tuple[str, str]]] = {"phase_rmse": ("lattice", "composition")}

    def run(self, ctx: TaskContext) -> Outcome:
        scored, items = score_frames(ctx)
        suffix = str(ctx.parameter("known_suffix"))
        groups = []
        for label, members in by(scored, lambda s: s.group).items():
            ref, pred = energies(members)
            stats = error_stats(pred - ref, scale=1000.0)
            groups.append(
                GroupValues(
                    label,
                    len(members),
                    {"energy_rmse_meV_per_atom": stats.rmse, "energy_mae_meV_per_atom": stats.mae},
                    labels={
                        "lattice": members[0].lattice,
                        "composition": members[0].nominal,
                        "known": str(is_known(label, suffix)),
                    },
                )
            )
        rmses = np.array([g.values["energy_rmse_meV_per_atom"] for g in groups])
        known = np.array([g.labels["known"] == "True" for g in groups], bool)
        all_ref, all_pred = energies(scored)
        values = {
            "n_phases": float(len(groups)),
            "median_phase_rmse_meV_per_atom": float(np.median(rmses)) if len(rmses) else float("nan"),
            "energy_rmse_meV_per_atom": error_stats(all_pred - all_ref, scale=1000.0).rmse,
        }
        for low, high in ctx.parameter("bands_meV_per_atom"):
            inside = (rmses >= low) & (rmses <= high)
            tag = f"{low:g}_{high:g}"
            values[f"phases_rmse_{tag}_meV"] = float(inside.sum())
            values[f"known_phases_rmse_{tag}_meV"] = float((inside & known).sum())
            values[f"hypothetical_phases_rmse_{tag}_meV"] = float((inside & ~known).sum())
        worst = sorted(groups, key=lambda g: -g.values["energy_rmse_meV_per_atom"])[:3]
        notes = ("worst phases: " + ", ".join(f"{g.group} {g.values['energy_rmse_meV_per_atom']:.1f}" for g in worst),)
        return Outcome(values, tuple(items), tuple(groups), notes, n_scored=len(scored))


class RankingKind(TaskKind):
    """Ranking errors over all pairs of orderings within each phase (paper 001 Methods).

    Values pooled over phases: the rate of ranking errors (mismatched pairs / all pairs), the mean
    and max |ΔE_ref| over mismatched pairs, the mean Kendall tau, and the same for known phases.
    Parameter ``known_suffix`` ("-org").
    """

    packages = ("pymatgen",)

    name = "ranking"
    needs_dataset = True
    parameters = (GROUP_BY, KNOWN)
    produces = frozenset(
        f"{who}{name}"
        for who in ("", "known_", "hypothetical_")
        for name in (
            "ranking_error_rate",
            "max_phase_error_rate",
            "phases_error_rate_below_10pct",
            "mismatch_mean_dE_ref_meV_per_atom",
            "mismatch_max_dE_ref_meV_per_atom",
            "kendall_tau_mean",
            "n_phases",
        )
    )
    plots: ClassVar[dict[str, tuple[str, str]]] = {"ranking": ("phase", "rate of ranking errors")}

    def run(self, ctx: TaskContext) -> Outcome:
        scored, items = score_frames(ctx)
        suffix = str(ctx.parameter("known_suffix"))
        groups = []
        for label, members in by(scored, lambda s: s.group).items():
            stats = ranking_errors(*energies(members))
            groups.append(
                GroupValues(
                    label,
                    len(members),
                    {
                        "ranking_error_rate": stats.error_rate,
                        "n_pairs": float(stats.n_pairs),
                        "n_mismatched_pairs": float(stats.n_errors),
                        "mismatch_mean_dE_ref_meV_per_atom": stats.mean_abs_dE_ref_meV_per_atom,
                        "mismatch_max_dE_ref_meV_per_atom": stats.max_abs_dE_ref_meV_per_atom,
                        "kendall_tau": stats.kendall_tau,
                    },
                    labels={
                        "lattice": members[0].lattice,
                        "composition": members[0].nominal,
                        "known": str(is_known(label, suffix)),
                    },
                    arrays={"mismatched_dE_ref_meV_per_atom": list(stats.mismatched_dE_ref_meV_per_atom)},
                )
            )
        values = _pooled(groups, "")
        values |= _pooled([g for g in groups if g.labels["known"] == "True"], "known_")
        values |= _pooled([g for g in groups if g.labels["known"] != "True"], "hypothetical_")
        return Outcome(values, tuple(items), tuple(groups), n_scored=len(scored))


def _pooled(groups: list[GroupValues], prefix: str) -> dict[str, float]:
    pairs = sum(g.values["n_pairs"] for g in groups)
    wrong = sum(g.values["n_mismatched_pairs"] for g in groups)
    dE = np.concatenate([np.asarray(g.arrays["mismatched_dE_ref_meV_per_atom"]) for g in groups] or [np.zeros(0)])
    rates = np.array([g.values["ranking_error_rate"] for g in groups])
    taus = np.array([g.values["kendall_tau"] for g in groups])
    finite = rates[np.isfinite(rates)]
    return {
        f"{prefix}ranking_error_rate": wrong / pairs if pairs else float("nan"),
        f"{prefix}max_phase_error_rate": float(finite.max()) if len(finite) else float("nan"),
        f"{prefix}phases_error_rate_below_10pct": float((finite < 0.10).sum()),
        f"{prefix}mismatch_mean_dE_ref_meV_per_atom": float(dE.mean()) if len(dE) else float("nan"),
        f"{prefix}mismatch_max_dE_ref_meV_per_atom": float(dE.max()) if len(dE) else float("nan"),
        f"{prefix}kendall_tau_mean": float(np.nanmean(taus)) if np.isfinite(taus).any() else float("nan"),
        f"{prefix}n_phases": float(len(groups)),
    }


class LecKind(TaskKind):
    """Is the predicted lowest-energy configuration of each phase the reference one?

    Per phase: correct (1/0) and ΔE_ref between the predicted and the true LEC (meV/atom).
    """

    packages = ("pymatgen",)

    name = "lec"
    needs_dataset = True
    parameters = (GROUP_BY, KNOWN)
    produces = frozenset(
        {
            "lec_correct_fraction",
            "lec_correct_count",
            "n_phases",
            "known_lec_correct_count",
            "known_n_phases",
            "hypothetical_lec_correct_count",
            "lec_wrong_mean_dE_ref_meV_per_atom",
            "lec_wrong_below_2meV_count",
        }
    )
    plots: ClassVar[dict[str, tuple[str, str]]] = {"lec": ("phase", "ΔE_ref between predicted and true LEC (meV/atom)")}

    def run(self, ctx: TaskContext) -> Outcome:
        scored, items = score_frames(ctx)
        suffix = str(ctx.parameter("known_suffix"))
        groups = []
        for label, members in by(scored, lambda s: s.group).items():
            lec = lowest_energy_configuration(*energies(members))
            groups.append(
                GroupValues(
                    label,
                    len(members),
                    {"lec_correct": float(lec.correct), "lec_dE_ref_meV_per_atom": lec.dE_ref_meV_per_atom},
                    labels={
                        "known": str(is_known(label, suffix)),
                        "lec_ref": members[lec.index_ref].frame.id,
                        "lec_pred": members[lec.index_pred].frame.id,
                    },
                )
            )
        correct = np.array([g.values["lec_correct"] for g in groups], bool)
        known = np.array([g.labels["known"] == "True" for g in groups], bool)
        wrong_dE = np.array([g.values["lec_dE_ref_meV_per_atom"] for g in groups])[~correct]
        values = {
            "lec_correct_fraction": float(correct.mean()) if len(correct) else float("nan"),
            "lec_correct_count": float(correct.sum()),
            "n_phases": float(len(groups)),
            "known_lec_correct_count": float((correct & known).sum()),
            "known_n_phases": float(known.sum()),
            "hypothetical_lec_correct_count": float((correct & ~known).sum()),
            "lec_wrong_mean_dE_ref_meV_per_atom": float(wrong_dE.mean()) if len(wrong_dE) else 0.0,
            "lec_wrong_below_2meV_count": float((wrong_dE < 2.0).sum()),
        }
        return Outcome(values, tuple(items), tuple(groups), n_scored=len(scored))


class GroundPhaseKind(TaskKind):
    """The ground phase of each composition: the lattice whose LEC is lowest (paper 001 Fig. 2c).

    Compositions are nominal (the label's suffix; a known phase's reduced formula), energies per
    atom compared as the paper does; lattices are the label before its last "-". Only compositions
    sampled in two or more lattices are scored. Per composition: correct (1/0),
    ΔE_ref between the reference LECs of the predicted and the true ground phase (meV/atom).
    """

    packages = ("pymatgen",)

    name = "ground_phase"
    needs_dataset = True
    parameters = (GROUP_BY,)
    produces = frozenset({"gp_correct_fraction", "gp_correct_count", "n_compositions"})

    def run(self, ctx: TaskContext) -> Outcome:
        scored, items = score_frames(ctx)
        groups, notes = [], []
        for formula, members in by(scored, lambda s: s.nominal).items():
            lattices = by(members, lambda s: s.lattice)
            if len(lattices) < 2:
                continue
            ref_lec = {lat: lowest(ms, predicted=False) for lat, ms in lattices.items()}
            pred_lec = {lat: lowest(ms, predicted=True) for lat, ms in lattices.items()}
            gp_ref = min(ref_lec, key=lambda lat: ref_lec[lat].e_ref)
            gp_pred = min(pred_lec, key=lambda lat: pred_lec[lat].e_pred)
            dE = (ref_lec[gp_pred].e_ref - ref_lec[gp_ref].e_ref) * 1000
            groups.append(
                GroupValues(
                    formula,
                    len(members),
                    {
                        "gp_correct": float(gp_ref == gp_pred),
                        "gp_dE_ref_meV_per_atom": dE,
                        "n_lattices": float(len(lattices)),
                    },
                    labels={"ground_phase_ref": gp_ref, "ground_phase_pred": gp_pred, "lattices": ", ".join(lattices)},
                )
            )
            verdict = "right" if gp_ref == gp_pred else "WRONG"
            notes.append(f"{formula}: reference {gp_ref}, predicted {gp_pred} ({verdict})")
        correct = np.array([g.values["gp_correct"] for g in groups], bool)
        values = {
            "gp_correct_fraction": float(correct.mean()) if len(correct) else float("nan"),
            "gp_correct_count": float(correct.sum()),
            "n_compositions": float(len(groups)),
        }
        return Outcome(values, tuple(items), tuple(groups), tuple(notes), n_scored=len(scored))
