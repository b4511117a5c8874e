"""Alloy metrics of paper 001 (Liu & Mo, Acta Mater. 268 (2024) 119742): hand-built cases with known
answers, and the paper's DFT-only statements checked on its own data set (../shared/data/li_al)."""

from __future__ import annotations

import gzip
import math
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from mlip_bench.metrics.forces import force_errors_on_atoms, force_nac, nac, p_d
from mlip_bench.metrics.hull import (
    formation_energies,
    hull_comparison,
    interphase_formation_energies,
    transition_composition,
)
from mlip_bench.metrics.ranking import ground_phase, lowest_energy_configuration, ranking_errors
from mlip_bench.metrics.score import (
    PAPER_001_CRITERIA,
    PAPER_001_HIGHER_IS_BETTER,
    PAPER_001_WEIGHTS,
    validation_score,
)

MEV = 1e-3  # eV

# ---------------------------------------------------------------- ranking errors


def test_perfect_ranking_has_no_errors_and_tau_one():
    ref = np.array([-3.000, -2.998, -2.995, -2.990])
    stats = ranking_errors(ref, ref + 0.5)  # a constant offset does not change any ranking
    assert (stats.n_structures, stats.n_pairs, stats.n_errors) == (4, 6, 0)
    assert stats.error_rate == 0.0
    assert stats.kendall_tau == pytest.approx(1.0)
    assert math.isnan(stats.mean_abs_dE_ref_meV_per_atom) and math.isnan(stats.max_abs_dE_ref_meV_per_atom)
    assert stats.mismatched_dE_ref_meV_per_atom == ()


def test_reversed_ranking_is_all_errors_and_tau_minus_one():
    ref = np.array([0.0, 1.0, 2.0, 4.0]) * MEV
    stats = ranking_errors(ref, -ref)
    assert (stats.n_pairs, stats.n_errors, stats.error_rate) == (6, 6, 1.0)
    assert stats.kendall_tau == pytest.approx(-1.0)
    # |dE_ref| of the six pairs: 1, 2, 4, 1, 3, 2 meV/atom
    assert sorted(stats.mismatched_dE_ref_meV_per_atom) == pytest.approx([1, 1, 2, 2, 3, 4])
    assert stats.mean_abs_dE_ref_meV_per_atom == pytest.approx(13 / 6)
    assert stats.max_abs_dE_ref_meV_per_atom == pytest.approx(4.0)


def test_one_swapped_pair():
    ref = np.array([0.0, 1.0, 2.0, 3.0]) * MEV
    pred = np.array([0.0, 2.5, 1.5, 3.0]) * MEV
    stats = ranking_errors(ref, pred)
    assert (stats.n_errors, stats.error_rate) == (1, pytest.approx(1 / 6))
    assert stats.mismatched_dE_ref_meV_per_atom == pytest.approx((1.0,))
    assert stats.kendall_tau == pytest.approx((5 - 1) / 6)  # (concordant - discordant) / pairs, no ties


def test_a_tie_in_the_reference_counts_as_an_error_with_zero_gap():
    stats = ranking_errors(np.array([0.0, 0.0, 1.0]) * MEV, np.array([0.0, 0.5, 2.0]) * MEV)
    assert (stats.n_errors, stats.n_pairs) == (1, 3)  # paper: product <= 0
    assert stats.mean_abs_dE_ref_meV_per_atom == 0.0 and stats.max_abs_dE_ref_meV_per_atom == 0.0


def test_a_tie_in_the_prediction_counts_as_an_error():
    stats = ranking_errors(np.array([0.0, 1.0, 2.0]) * MEV, np.array([0.0, 0.0, 2.0]) * MEV)
    assert stats.n_errors == 1
    assert stats.mismatched_dE_ref_meV_per_atom == pytest.approx((1.0,))


def test_a_single_structure_has_no_pairs():
    stats = ranking_errors([-3.0], [-2.9])
    assert (stats.n_structures, stats.n_pairs, stats.n_errors) == (1, 0, 0)
    assert math.isnan(stats.error_rate) and math.isnan(stats.kendall_tau)


def test_nan_entries_are_dropped_pairwise():
    ref = np.array([0.0, np.nan, 1.0, 2.0, 3.0]) * MEV
    pred = np.array([0.0, 0.0, 2.0, np.nan, 1.0]) * MEV
    stats = ranking_errors(ref, pred)
    assert (stats.n_structures, stats.n_dropped, stats.n_pairs) == (3, 2, 3)
    assert stats.n_errors == 1  # kept: ref 0, 1, 3 / pred 0, 2, 1 -> the pair (1, 3) is swapped


def test_ranking_shape_mismatch_raises():
    with pytest.raises(ValueError, match="same length"):
        ranking_errors([0.0, 1.0], [0.0, 1.0, 2.0])
    with pytest.raises(ValueError):
        ranking_errors(np.zeros((2, 2)), np.zeros((2, 2)))


# ---------------------------------------------------------------- LEC and ground phase


def test_lec_right():
    lec = lowest_energy_configuration([3.0 * MEV, 1.0 * MEV, 2.0 * MEV], [0.03, 0.01, 0.02])
    assert (lec.index_ref, lec.index_pred, lec.correct, lec.dE_ref_meV_per_atom) == (1, 1, True, 0.0)


def test_lec_wrong_costs_the_reference_gap():
    lec = lowest_energy_configuration([3.0 * MEV, 1.0 * MEV, 2.5 * MEV], [0.03, 0.02, 0.01])
    assert (lec.index_ref, lec.index_pred, lec.correct) == (1, 2, False)
    assert lec.dE_ref_meV_per_atom == pytest.approx(1.5)


def test_lec_indices_refer_to_the_arrays_as_passed_and_ties_in_the_reference_are_correct():
    # index 0 would win the prediction but has no reference energy; 1 and 2 tie in the reference
    lec = lowest_energy_configuration([np.nan, 1.0 * MEV, 1.0 * MEV, 2.0 * MEV], [-9.0, 0.02, 0.01, 0.03])
    assert (lec.index_ref, lec.index_pred, lec.correct, lec.n_structures) == (1, 2, True, 3)
    with pytest.raises(ValueError, match="no configuration"):
        lowest_energy_configuration([np.nan], [1.0])


def test_ground_phase_cost_uses_the_best_ordering_of_the_predicted_lattice():
    phases = ["bcc", "bcc", "fcc", "fcc", "hcp"]
    ref = np.array([0.0, 4.0, 2.0, 1.0, 5.0]) * MEV
    pred = np.array([3.0, 4.0, 2.0, 9.0, 5.0]) * MEV  # picks fcc through its worse ordering
    gp = ground_phase(phases, ref, pred)
    assert (gp.phase_ref, gp.phase_pred, gp.correct) == ("bcc", "fcc", False)
    assert gp.dE_ref_meV_per_atom == pytest.approx(1.0)
    assert ground_phase(phases, ref, ref).correct


# ---------------------------------------------------------------- formation energies and hulls


def test_formation_energy_is_zero_at_the_endpoints_and_eq3_in_between():
    e_li, e_al = -1.90, -3.74
    ef = formation_energies(
        [0.0, 1.0, 0.5, 0.4], [e_li, e_al, -3.0, -2.8], e_li_eV_per_atom=e_li, e_al_eV_per_atom=e_al
    )
    assert ef[:2] == pytest.approx([0.0, 0.0], abs=1e-15)
    assert ef[2] == pytest.approx(-3.0 - 0.5 * e_li - 0.5 * e_al)
    assert ef[3] == pytest.approx(-2.8 - 0.6 * e_li - 0.4 * e_al)
    with pytest.raises(ValueError):
        formation_energies([1.2], [-3.0], e_li_eV_per_atom=e_li, e_al_eV_per_atom=e_al)


def test_eq4_matches_the_papers_li_x_al_y_weights():
    e_lial, e_lial3 = -3.007, -3.382
    assert interphase_formation_energies(
        [0.5, 0.75], [e_lial, e_lial3], e_lial_eV_per_atom=e_lial, e_lial3_eV_per_atom=e_lial3
    ) == pytest.approx([0.0, 0.0], abs=1e-15)
    for li, al in [(2, 3), (3, 5), (1, 2)]:  # Li_x Al_y written as in the paper's Eq. (4)
        e = -3.1
        expected = e - (3 * li - al) / (li + al) * e_lial - 2 * (al - li) / (li + al) * e_lial3
        got = interphase_formation_energies(
            [al / (li + al)], [e], e_lial_eV_per_atom=e_lial, e_lial3_eV_per_atom=e_lial3
        )
        assert got[0] == pytest.approx(expected, abs=1e-14)


NAMES = ["A", "B", "C"]
X = [0.25, 0.5, 0.75]
# reference hull Li - A - B - Al (C 25 meV above the B-Al tie line at -75 meV)
EF_REF = [-0.100, -0.150, -0.050]


def test_hull_with_a_wrongly_stable_and_a_missed_phase():
    comp = hull_comparison(NAMES, X, EF_REF, [-0.050, -0.150, -0.100])
    assert comp.stable_ref == ("A", "B") and comp.stable_pred == ("B", "C")
    assert comp.wrongly_stable == ("C",) and comp.missed_stable == ("A",)
    assert (comp.precision, comp.recall, comp.f1) == pytest.approx((0.5, 0.5, 0.5))
    assert comp.e_above_hull_ref_meV_per_atom == pytest.approx((0.0, 0.0, 25.0), abs=1e-9)
    assert comp.e_above_hull_pred_meV_per_atom == pytest.approx((25.0, 0.0, 0.0), abs=1e-9)
    assert comp.e_above_hull_mae_meV_per_atom == pytest.approx(50.0 / 3.0)
    assert comp.lowest_ef_ref == comp.lowest_ef_pred == "B"


def test_hull_precision_recall_f1_by_hand():
    comp = hull_comparison(NAMES, X, EF_REF, [-0.050, -0.150, -0.050])  # only B stable in the prediction
    assert comp.stable_pred == ("B",)
    assert (comp.precision, comp.recall) == pytest.approx((1.0, 0.5))
    assert comp.f1 == pytest.approx(2 * 1.0 * 0.5 / 1.5)


def test_hull_tolerance_and_nan_names():
    comp = hull_comparison(NAMES, X, EF_REF, [-0.050, -0.150, -0.050], tol_meV_per_atom=30.0)
    assert comp.stable_ref == comp.stable_pred == ("A", "B", "C")
    comp = hull_comparison([*NAMES, "D"], [*X, 0.6], [*EF_REF, -0.2], [-0.100, -0.150, -0.050, np.nan])
    assert comp.dropped == ("D",) and comp.names == ("A", "B", "C")
    assert comp.stable_pred == ("A", "B") and comp.f1 == 1.0
    with pytest.raises(ValueError, match="distinct"):
        hull_comparison(["A", "A"], [0.5, 0.5], [-0.1, -0.2], [-0.1, -0.2])


def test_transition_composition_of_crossing_lines():
    x = np.array([0.50, 0.55, 0.60, 0.65, 0.70, 0.75])
    e_bcc, e_fcc = 0.4 * (x - 0.5), 0.4 * (0.75 - x)  # cross at 0.625
    assert transition_composition(x, e_bcc, e_fcc) == pytest.approx(0.625)
    assert transition_composition(x, e_bcc, e_fcc, interpolate=False) == pytest.approx(0.65)
    # the same linear reference subtracted from both (Eq. 3 vs Eq. 4 vs raw) changes nothing
    assert transition_composition(x, e_bcc - 1.8 * x, e_fcc - 1.8 * x) == pytest.approx(0.625)
    # extra, higher orderings at a composition reduce to the LEC; NaN entries are dropped
    xs = np.concatenate([x, [0.55, 0.65]])
    assert transition_composition(xs, np.append(e_bcc, [1.0, np.nan]), np.append(e_fcc, [1.0, 1.0])) == (
        pytest.approx(0.625)
    )
    # fcc sampled on its own grid
    xf = x + 0.01
    assert transition_composition(x, e_bcc, 0.4 * (0.75 - xf), x_al_fcc=xf) == pytest.approx(0.625)
    assert math.isnan(transition_composition(x, e_bcc, e_bcc + 0.01))  # fcc never lower
    assert math.isnan(transition_composition(x, e_bcc, e_bcc - 0.01))  # fcc lower everywhere


# ---------------------------------------------------------------- forces, NAC, P(D)


def test_force_errors_magnitude_and_angle():
    ref = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 3.0], [0.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    pred = np.array([[0.0, 1.0, 0.0], [-2.0, 0.0, 0.0], [0.0, 0.0, 3.0], [0.0, 1.0, 0.0], [2.0, 0.0, 0.0]])
    magnitude, angle = force_errors_on_atoms(ref, pred)
    assert magnitude == pytest.approx([0.0, 1.0, 0.0, 1.0, 2.0 - math.sqrt(2.0)])
    assert angle[:3] == pytest.approx([90.0, 180.0, 0.0])
    assert math.isnan(angle[3])  # zero reference force: no direction
    assert angle[4] == pytest.approx(45.0)
    with pytest.raises(ValueError):
        force_errors_on_atoms(ref, pred[:, :2])


def test_nac_limits_and_a_value_by_hand():
    assert nac(np.zeros(7), upper=1.5) == 1.0
    assert nac([1.5, 2.0, 10.0], upper=1.5) == 0.0
    assert nac([0.0, 0.75, np.nan], upper=1.5) == pytest.approx(0.75)  # mean of 1 and 0.5
    assert math.isnan(nac([np.nan], upper=1.5))
    with pytest.raises(ValueError):
        nac([0.1], upper=0.0)
    with pytest.raises(ValueError):
        nac([-0.1], upper=1.5)


def test_nac_equals_the_area_under_the_sampled_cdf():
    errors = np.random.default_rng(0).exponential(0.4, size=50)
    grid = np.linspace(0.0, 1.5, 150_001)
    cdf = (errors[None, :] <= grid[:, None]).mean(axis=1)
    area = float(np.sum(0.5 * (cdf[1:] + cdf[:-1]) * np.diff(grid)))
    assert nac(errors, upper=1.5) == pytest.approx(area / 1.5, abs=1e-4)


def test_p_d_is_the_product_of_the_two_nacs():
    ref = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 2.0]])
    assert p_d(ref, ref) == 1.0
    pred = np.array([[0.0, 1.75, 0.0], [2.75, 0.0, 0.0]])  # |dF| = 0.75 eV/Å and 90 degrees on both
    result = force_nac(ref, pred)
    assert (result.nac_magnitude, result.nac_direction) == pytest.approx((0.5, 0.5))
    assert p_d(ref, pred) == pytest.approx(0.25)
    assert p_d(ref, pred, f_max_eV_per_A=3.0) == pytest.approx(0.75 * 0.5)


# ---------------------------------------------------------------- validation score


def test_validation_score_by_hand():
    # c1 lower is better: v = (c - 1) / sqrt(2/3) -> v^2 = 0, 1.5, 6
    # c2 higher is better, weight 1.5: v = (0.9 - c) / sqrt(0.02) -> (1.5 v)^2 = 0, 10.125, 0
    criteria = {"c1": [1.0, 2.0, 3.0], "c2": [0.9, 0.6, 0.9]}
    score = validation_score(criteria, higher_is_better={"c1": False, "c2": True}, weights={"c2": 1.5})
    assert score == pytest.approx((0.0, 11.625, 6.0))


def test_validation_score_nac_and_delta_nac_agree_and_units_do_not_matter():
    nacs = [0.8, 0.7, 0.95, 0.9]
    rmse_eV = [0.030, 0.020, 0.050, 0.040]
    as_nac = validation_score({"nac": nacs, "rmse": rmse_eV}, higher_is_better={"nac": True, "rmse": False}, weights={})
    as_delta = validation_score(
        {"dnac": [1 - v for v in nacs], "rmse": [1000 * v for v in rmse_eV]},
        higher_is_better={"dnac": False, "rmse": False},
        weights={},
    )
    assert as_nac == pytest.approx(as_delta)


def test_validation_score_nan_and_bad_input():
    score = validation_score({"c": [1.0, np.nan, 3.0, 2.0]}, higher_is_better={"c": False}, weights={})
    assert math.isnan(score[1])
    s = math.sqrt(2.0 / 3.0)  # std of 1, 3, 2
    assert (score[0], score[2], score[3]) == pytest.approx((0.0, (2 / s) ** 2, (1 / s) ** 2))
    assert validation_score({"c": [2.0, 2.0]}, higher_is_better={"c": False}, weights={}) == (0.0, 0.0)
    with pytest.raises(ValueError, match="no direction"):
        validation_score({"c": [1.0]}, higher_is_better={}, weights={})
    with pytest.raises(ValueError, match="unknown"):
        validation_score({"c": [1.0]}, higher_is_better={"c": False}, weights={"typo": 2.0})
    with pytest.raises(ValueError, match="one value per model"):
        validation_score({"a": [1.0], "b": [1.0, 2.0]}, higher_is_better={"a": False, "b": False}, weights={})


def test_paper_criteria_table():
    assert len(PAPER_001_CRITERIA) == 10
    assert {key for key, w in PAPER_001_WEIGHTS.items() if w != 1.0} == {"n_large_forces", "n_low_energies"}
    assert set(PAPER_001_WEIGHTS.values()) == {1.0, 1.5}
    assert not any(PAPER_001_HIGHER_IS_BETTER.values())  # RMSEs, 1 - NAC and counts


# ---------------------------------------------------------------- the paper's own DFT data


def _read_li_al(path: Path) -> list[tuple[str, float, float]]:
    """(label, x_Al, energy in eV/atom) per frame. Reads only species and the header: ase.io needs
    ~20 s of CPU for these files, which the metrics do not need."""
    rows = []
    with gzip.open(path, "rt") as handle:
        while line := handle.readline():
            n_atoms = int(line)
            header = handle.readline()
            label = re.search(r'label=("[^"]*"|\S+)', header)
            energy = re.search(r"(?:^|\s)energy=(\S+)", header)
            assert label and energy, header[:200]
            n_al = sum(handle.readline().split(maxsplit=1)[0] == "Al" for _ in range(n_atoms))
            rows.append((label.group(1).strip('"'), n_al / n_atoms, float(energy.group(1)) / n_atoms))
    return rows


@pytest.fixture(scope="module")
def li_al(data_root: Path) -> dict[str, list[tuple[str, float, float]]]:
    return {name: _read_li_al(data_root / "li_al" / f"{name}.extxyz.gz") for name in ("train", "test_a", "test_b")}


def _elemental_references(train: list[tuple[str, float, float]]) -> dict[str, float]:
    # the relaxed bcc Li and fcc Al cells are the lowest-energy pure cells of D_train
    return {
        "e_li_eV_per_atom": min(e for label, x, e in train if x == 0.0 and label == "relax"),
        "e_al_eV_per_atom": min(e for label, x, e in train if x == 1.0 and label == "relax"),
    }


def test_paper_dft_ground_phases(li_al):
    """Sec. 2.2: by DFT the GP of Li4Al is R-3m, of LiAl Fd-3m, of LiAl3 and LiAl5 Pm-3m, of Li5Al3
    Cmcm and of Li2Al3 Pm-3m (formation energies, since the lattices' Al contents differ slightly)."""
    refs = _elemental_references(li_al["train"])
    by_composition: dict[str, list[tuple[str, float, float]]] = defaultdict(list)
    for label, x, e in li_al["test_a"] + li_al["test_b"]:
        lattice, composition = label.rsplit("-", 1)
        if composition != "org":
            by_composition[composition].append((lattice, x, e))
    found = {}
    for composition, rows in by_composition.items():
        lattices, x, e = zip(*rows, strict=True)
        ef = formation_energies(np.array(x), np.array(e), **refs)
        found[composition] = ground_phase(lattices, ef, ef).phase_ref
    expected = {"Li4Al": "R3m", "LiAl": "Fd3m", "LiAl3": "Pm3m", "LiAl5": "Pm3m", "Li5Al3": "Cmcm", "Li2Al3": "Pm3m"}
    assert found == expected


def test_paper_dft_hull_has_four_stable_intermediate_phases(li_al):
    """Sec. 2.4.2: "only four stable intermediate phases predicted by DFT" (hull of the LECs of all
    47 phases of D_test). The DFT minimum of E_f, however, is Li3Al2 (-189.7 meV/atom), not LiAl
    (-182.6) as the paper's text says."""
    refs = _elemental_references(li_al["train"])
    lowest: dict[str, tuple[float, float]] = {}
    for label, x, e in li_al["test_a"] + li_al["test_b"]:
        if label not in lowest or e < lowest[label][1]:
            lowest[label] = (x, e)
    # the hypothetical LiAl in Fd-3m and LiAl3 in Pm-3m are the known phases again (same LEC)
    names = [name for name in lowest if name not in ("Fd3m-LiAl", "Pm3m-LiAl3")]
    x = np.array([lowest[name][0] for name in names])
    ef = formation_energies(x, np.array([lowest[name][1] for name in names]), **refs)
    comp = hull_comparison(names, x, ef, ef)
    assert set(comp.stable_ref) == {"C2/m:b1-org", "R3m-org", "Fd3m-org", "Pm3m-org"}  # Li9Al4 Li3Al2 LiAl LiAl3
    assert comp.lowest_ef_ref == "R3m-org"
    assert min(ef) * 1000 == pytest.approx(-189.7, abs=0.05)


def test_paper_dft_bcc_fcc_transition(data_root):
    """Sec. 2.4.2 / Fig. 5b: on D_bcc/fcc (Fd-3m vs Pm-3m orderings) the DFT energies put the
    transition at the grid composition labelled 57 % (x_Al = 7/12). The paper's text gives 57 % to
    MTP_Train and 62 % to DFT; its own GP statement (Li2Al3, 60 % Al, is fcc Pm-3m by DFT, bcc
    Fd-3m by MTP_Train) needs the DFT transition below 60 %, so the two numbers look swapped."""
    rows = _read_li_al(data_root / "li_al" / "bcc_fcc.extxyz.gz")
    bcc = [(x, e) for label, x, e in rows if label.startswith("BCC Fd3m")]
    fcc = [(x, e) for label, x, e in rows if label.startswith("FCC Pm3m")]
    xb, eb = np.array(bcc).T
    xf, ef = np.array(fcc).T
    assert transition_composition(xb, eb, ef, x_al_fcc=xf, interpolate=False) == pytest.approx(7 / 12)
    crossing = transition_composition(xb, eb, ef, x_al_fcc=xf)
    assert 0.5625 < crossing < 7 / 12


def test_a_missing_transition_says_why() -> None:
    """The bcc/fcc kind's dash gets a reason: which family is lower everywhere, or that the order
    changes the other way (as the suite's own level-16 Li-Al MTP does: B lower throughout)."""
    from mlip_bench.engine.kinds.alloy_stability import _no_crossing
    from mlip_bench.engine.kinds.base import GroupValues

    def groups(pairs: list[tuple[float, float]]) -> list[GroupValues]:
        return [
            GroupValues(f"x{i}", 2, {"ef_a_pred_meV_per_atom": a, "ef_b_pred_meV_per_atom": b})
            for i, (a, b) in enumerate(pairs)
        ]

    assert "family B is lower" in _no_crossing(groups([(0.0, -1.0), (5.0, 2.0)]), "pred")
    assert "family A is lower" in _no_crossing(groups([(0.0, 1.0), (5.0, 7.0)]), "pred")
    assert "never from A to B" in _no_crossing(groups([(0.0, -1.0), (5.0, 7.0)]), "pred")
    assert "by the potential" in _no_crossing(groups([(0.0, -1.0)]), "pred")
    assert "no composition" in _no_crossing([], "ref")
