"""Kinds about phase stability and robustness of a binary alloy potential (paper 001, Sec. 2.4
and Methods): ``convex_hull`` (formation energies, Eq. 3, and the hull, Fig. 5a),
``phase_transition`` (the composition where one lattice takes over from another, Eq. 4 and
Fig. 5b, c) and ``irregular`` (unphysical energies and forces on far-from-equilibrium structures,
no reference needed).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from mlip_bench.data.frames import Frame
from mlip_bench.engine.kinds.alloy_common import GROUP_BY, Scored, by, lowest, score_frames
from mlip_bench.engine.kinds.base import GroupValues, Outcome, TaskContext, TaskKind
from mlip_bench.engine.parameters import NON_NEGATIVE, NUMBER, POSITIVE, STRING, Param, array
from mlip_bench.errors import EvaluationError
from mlip_bench.metrics import formation_energies, hull_comparison, transition_composition

ELEMENTS = Param(
    "elements", ("Li", "Al"), array(STRING, min_items=2, max_items=2), "", "[A, B]: x is the fraction of B"
)


def _endpoints(ctx: TaskContext) -> tuple[str, str]:
    pair = ctx.parameter("elements")
    if len(pair) != 2:
        raise EvaluationError(f"task {ctx.task.id}: parameter 'elements' must name two elements, got {pair}")
    return str(pair[0]), str(pair[1])


class ConvexHullKind(TaskKind):
    """Formation energies per Eq. (3) against the dataset's own elemental references (the lowest
    energy per atom of its pure structures, taken separately for reference and prediction), the
    lowest E_f of each composition, and both hulls with pymatgen's PhaseDiagram.

    Stable-set precision, recall and F1 count intermediate compositions only (the pure endpoints
    are stable by construction).

    Parameters: ``elements`` ([A, B]: x is the fraction of B; default [Li, Al]),
    ``tolerance_meV_per_atom`` (0: a composition is stable when on the hull within it).
    """

    packages = ("pymatgen",)

    name = "convex_hull"
    needs_dataset = True
    parameters = (
        GROUP_BY,
        ELEMENTS,
        Param("tolerance_meV_per_atom", 0.0, NON_NEGATIVE, "meV/atom", "on the hull within this counts as stable"),
    )
    produces = frozenset(
        {"hull_f1", "hull_precision", "hull_recall", "e_above_hull_mae_meV_per_atom"}
        | {"n_stable_ref", "n_stable_pred", "n_wrongly_stable", "n_missed_stable"}
    )
    plots: ClassVar[dict[str, tuple[str, str]]] = {"hull": ("x (fraction of the second element)", "E_f (meV/atom)")}

    def run(self, ctx: TaskContext) -> Outcome:
        a, b = _endpoints(ctx)
        scored, items = score_frames(ctx)
        pure_a = [s for s in scored if s.fraction(b) == 0.0]
        pure_b = [s for s in scored if s.fraction(a) == 0.0]
        if not pure_a or not pure_b:
            raise EvaluationError(f"task {ctx.task.id}: the dataset has no scored pure {a} or pure {b} structure")
        x = np.array([s.fraction(b) for s in scored])
        refs = {}
        for tag, pick in (("ref", lambda s: s.e_ref), ("pred", lambda s: s.e_pred)):
            e = np.array([pick(s) for s in scored])
            refs[tag] = formation_energies(
                x, e, e_li_eV_per_atom=min(map(pick, pure_a)), e_al_eV_per_atom=min(map(pick, pure_b))
            )
        ef = {s.frame.id: (refs["ref"][i], refs["pred"][i]) for i, s in enumerate(scored)}
        names, xs, ef_ref, ef_pred = [], [], [], []
        by_formula = by(scored, lambda s: s.formula)
        for formula, members in by_formula.items():
            if formula in (a, b):  # the endpoints are on both hulls by construction: not scored
                continue
            names.append(formula)
            xs.append(members[0].fraction(b))
            ef_ref.append(min(ef[m.frame.id][0] for m in members))
            ef_pred.append(min(ef[m.frame.id][1] for m in members))
        tol = float(ctx.parameter("tolerance_meV_per_atom"))
        hull = hull_comparison(names, np.array(xs), np.array(ef_ref), np.array(ef_pred), tol_meV_per_atom=tol)
        groups = [
            GroupValues(
                name,
                len(by_formula[name]),
                {
                    "x": xs[i],
                    "ef_ref_meV_per_atom": ef_ref[i] * 1000,
                    "ef_pred_meV_per_atom": ef_pred[i] * 1000,
                    "e_above_hull_ref_meV_per_atom": hull.e_above_hull_ref_meV_per_atom[i],
                    "e_above_hull_pred_meV_per_atom": hull.e_above_hull_pred_meV_per_atom[i],
                },
                labels={"stable_ref": str(name in hull.stable_ref), "stable_pred": str(name in hull.stable_pred)},
            )
            for i, name in enumerate(names)
        ]
        values = {
            "hull_precision": hull.precision,
            "hull_recall": hull.recall,
            "hull_f1": hull.f1,
            "e_above_hull_mae_meV_per_atom": hull.e_above_hull_mae_meV_per_atom,
            "n_stable_ref": float(len(hull.stable_ref)),
            "n_stable_pred": float(len(hull.stable_pred)),
            "n_wrongly_stable": float(len(hull.wrongly_stable)),
            "n_missed_stable": float(len(hull.missed_stable)),
        }
        lowest_ref = names[int(np.argmin(ef_ref))]
        lowest_pred = names[int(np.argmin(ef_pred))]
        notes = (
            f"stable by the reference: {', '.join(hull.stable_ref)}; by the potential: {', '.join(hull.stable_pred)}",
            f"wrongly stable: {', '.join(hull.wrongly_stable) or 'none'}; "
            f"missed: {', '.join(hull.missed_stable) or 'none'}",
            f"lowest E_f: {lowest_ref} (reference), {lowest_pred} (potential)",
            f"elemental references: lowest-energy pure {a} and pure {b} structures of the dataset",
        )
        return Outcome(values, tuple(items), tuple(groups), notes, n_scored=len(scored))


class PhaseTransitionKind(TaskKind):
    """Where lattice family A gives way to family B as the fraction of the second element grows
    (paper 001 Fig. 5b, c: bcc Fd-3m to fcc Pm-3m between 50 and 75 % Al).

    Per exact composition, the LEC of each family (the two families' cells differ slightly in
    composition at the same nominal one); E'_f per Eq. (4) uses the LECs of the two reference
    groups. The crossing of E'_f(A) and E'_f(B) does not depend on those references (both subtract
    the same line), so the transition composition is that of E_A - E_B changing sign.

    Parameters: ``family_a`` / ``family_b`` (label prefixes, default ["BCC Fd3m"] / ["FCC Pm3m"]),
    ``references`` ({formula: group label}, default {LiAl: Fd3m-org, LiAl3: Pm3m-org}),
    ``elements`` ([Li, Al]).
    """

    packages = ("pymatgen",)

    name = "phase_transition"
    needs_dataset = True
    parameters = (
        GROUP_BY,
        ELEMENTS,
        Param("family_a", ("BCC Fd3m",), array(STRING, min_items=1), "", "label prefixes of lattice family A"),
        Param("family_b", ("FCC Pm3m",), array(STRING, min_items=1), "", "label prefixes of lattice family B"),
        Param(
            "references",
            {"LiAl": "Fd3m-org", "LiAl3": "Pm3m-org"},
            {"type": "object", "additionalProperties": STRING, "minProperties": 2, "maxProperties": 2},
            "",
            "{formula: group label} of the two phases whose LECs define E'_f (Eq. 4)",
        ),
    )
    produces = frozenset(
        {"transition_x_ref_percent", "transition_x_pred_percent", "transition_shift_percent", "n_compositions"}
    )
    plots: ClassVar[dict[str, tuple[str, str]]] = {"transition": ("x (% of the second element)", "E'_f (meV/atom)")}

    def wants_prediction(self, ctx: TaskContext, frame: Frame) -> bool:
        label = str(frame.labels.get(str(ctx.parameter("group_by")), ""))
        fam_a = tuple(ctx.parameter("family_a"))
        fam_b = tuple(ctx.parameter("family_b"))
        references = dict(ctx.parameter("references"))
        selected = label.startswith(fam_a) or label.startswith(fam_b) or label in set(references.values())
        return selected and super().wants_prediction(ctx, frame)

    def run(self, ctx: TaskContext) -> Outcome:
        _, b = _endpoints(ctx)
        fam_a = tuple(ctx.parameter("family_a"))
        fam_b = tuple(ctx.parameter("family_b"))
        references: dict[str, str] = dict(ctx.parameter("references"))
        wanted = set(references.values())

        def family(label: str) -> str:
            return "A" if label.startswith(fam_a) else "B" if label.startswith(fam_b) else ""

        label_key = str(ctx.parameter("group_by"))
        scored, items = score_frames(
            ctx, select=lambda f: family(str(f.labels.get(label_key, ""))) != "" or f.labels.get(label_key) in wanted
        )
        ref_groups = by([s for s in scored if s.group in wanted], lambda s: s.group)
        if set(ref_groups) != wanted:
            raise EvaluationError(f"task {ctx.task.id}: reference groups {sorted(wanted - set(ref_groups))} not scored")
        line = _reference_line(ref_groups, references, b)
        curves: dict[str, dict[str, tuple[float, float, float]]] = {}  # family -> x key -> (x, E'_f ref, pred)
        for fam in "AB":
            members = [s for s in scored if family(s.group) == fam]
            curves[fam] = {}
            for key, at_x in by(members, lambda s: f"{s.fraction(b):.6f}").items():
                x = at_x[0].fraction(b)
                ref, pred = lowest(at_x, predicted=False), lowest(at_x, predicted=True)
                curves[fam][key] = (x, ref.e_ref - line("ref", x), pred.e_pred - line("pred", x))
        a_pts, b_pts = (np.array(sorted(curves[f].values())).reshape(-1, 3) for f in "AB")
        x_ref, x_pred = (
            100 * transition_composition(a_pts[:, 0], a_pts[:, col], b_pts[:, col], x_al_fcc=b_pts[:, 0])
            for col in (1, 2)
        )
        groups = []
        for nominal, members in by([s for s in scored if family(s.group)], _nominal).items():
            parts = {f: [m for m in members if family(m.group) == f] for f in "AB"}
            if not parts["A"] or not parts["B"]:
                continue
            pa = [curves["A"][f"{m.fraction(b):.6f}"] for m in parts["A"]]
            pb = [curves["B"][f"{m.fraction(b):.6f}"] for m in parts["B"]]
            groups.append(
                GroupValues(
                    nominal,
                    len(members),
                    {
                        "x_percent": 100 * float(np.mean([p[0] for p in pa + pb])),
                        "ef_a_ref_meV_per_atom": 1000 * min(p[1] for p in pa),
                        "ef_b_ref_meV_per_atom": 1000 * min(p[1] for p in pb),
                        "ef_a_pred_meV_per_atom": 1000 * min(p[2] for p in pa),
                        "ef_b_pred_meV_per_atom": 1000 * min(p[2] for p in pb),
                    },
                )
            )
        values = {
            "transition_x_ref_percent": x_ref,
            "transition_x_pred_percent": x_pred,
            "transition_shift_percent": x_pred - x_ref,
            "n_compositions": float(len(groups)),
        }
        notes: tuple[str, ...] = (
            f"family A = {', '.join(fam_a)}, family B = {', '.join(fam_b)}; E'_f references (Eq. 4): "
            + ", ".join(f"{k} = LEC of {v}" for k, v in references.items()),
        )
        for who, x in (("pred", x_pred), ("ref", x_ref)):
            if not np.isfinite(x):  # a dash in the table must say why there is no number
                notes += (_no_crossing(groups, who),)
        return Outcome(values, tuple(items), tuple(groups), notes, n_scored=len(scored))


def _no_crossing(groups: list[GroupValues], who: str) -> str:
    """Why the potential's (``pred``) or the reference's (``ref``) E'_f(A) and E'_f(B) never cross
    from A lower to B lower with rising x_Al, from the LEC of each family per composition."""
    pairs = [(g.values["ef_a_" + who + "_meV_per_atom"], g.values["ef_b_" + who + "_meV_per_atom"]) for g in groups]
    whose = "the potential" if who == "pred" else "the reference"
    if not pairs:
        return f"no transition by {whose}: no composition has both families"
    if all(b <= a for a, b in pairs):
        return f"no transition by {whose}: family B is lower (or equal) at every composition"
    if all(a < b for a, b in pairs):
        return f"no transition by {whose}: family A is lower at every composition"
    return f"no transition by {whose}: the lower family changes, but never from A to B with rising x_Al"


def _nominal(s: Scored) -> str:
    """The composition part of a label such as "BCC Fd3m; Al%: 52%" (the whole label otherwise)."""
    return s.group.split(";", 1)[-1].strip()


def _reference_line(ref_groups: dict[str, list[Scored]], references: dict[str, str], b: str):  # type: ignore[no-untyped-def]
    """E(x) on the straight line through the LECs of the two reference phases (paper Eq. 4)."""
    points = {}
    for tag, predicted in (("ref", False), ("pred", True)):
        pts = []
        for label in references.values():
            lec = lowest(ref_groups[label], predicted=predicted)
            pts.append((lec.fraction(b), lec.e_pred if predicted else lec.e_ref))
        (x0, e0), (x1, e1) = sorted(pts)
        points[tag] = (x0, e0, (e1 - e0) / (x1 - x0))

    def line(tag: str, x: float) -> float:
        x0, e0, slope = points[tag]
        return e0 + slope * (x - x0)

    return line


class IrregularKind(TaskKind):
    """Unphysical predictions on far-from-equilibrium structures (paper 001 D_irregular; no
    reference needed): N_E structures predicted below ``energy_floor_eV_per_atom`` (-10) and N_F
    atoms with |F| above ``force_ceiling_eV_per_A`` (15)."""

    packages = ("pymatgen",)

    name = "irregular"
    needs_dataset = True
    parameters = (
        GROUP_BY,
        Param("energy_floor_eV_per_atom", -10.0, NUMBER, "eV/atom", "predicted energies below this are unphysical"),
        Param("force_ceiling_eV_per_A", 15.0, POSITIVE, "eV/Å", "forces above this are unphysical"),
    )
    requires = frozenset({"energy", "forces"})
    produces = frozenset(
        {"n_energy_below_floor", "n_atoms_force_above_ceiling", "max_force_eV_per_A", "min_energy_eV_per_atom"}
    )

    counts_unphysical = True  # its metrics count what other kinds refuse as unphysical

    def wants_prediction(self, ctx: TaskContext, frame: Frame) -> bool:
        # no reference needed; a structure no potential may see (NaN positions) is never predicted
        return not ctx.potential.info.unsupported(frame.elements) and not frame.problem(())

    def run(self, ctx: TaskContext) -> Outcome:
        floor = float(ctx.parameter("energy_floor_eV_per_atom"))
        ceiling = float(ctx.parameter("force_ceiling_eV_per_A"))
        scored, items = score_frames(ctx, need_reference=False)
        n_e, n_f, f_max, e_min = 0, 0, 0.0, np.inf
        per_item = {}
        for s in scored:
            forces = ctx.predict(s.frame).forces_eV_per_A  # cached: no second potential call
            magnitudes = np.linalg.norm(forces, axis=1) if forces is not None else np.zeros(0)
            big = int((magnitudes > ceiling).sum())
            n_e += int(s.e_pred < floor)
            n_f += big
            f_max = max(f_max, float(magnitudes.max(initial=0.0)))
            e_min = min(e_min, s.e_pred)
            per_item[s.frame.id] = {"max_force_eV_per_A": float(magnitudes.max(initial=0.0)), "n_large_forces": big}
        items = [i if i.id not in per_item else dataclasses.replace(i, values=i.values | per_item[i.id]) for i in items]
        values = {
            "n_energy_below_floor": float(n_e),
            "n_atoms_force_above_ceiling": float(n_f),
            "max_force_eV_per_A": f_max,
            "min_energy_eV_per_atom": float(e_min) if scored else float("nan"),
        }
        return Outcome(values, tuple(items), n_scored=len(scored))
