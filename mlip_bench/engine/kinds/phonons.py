"""Kind ``phonons``: harmonic phonons of the spec's crystals with phonopy (band structure along the
standard path, DOS, imaginary-mode and sum-rule checks), optionally compared with a reference
(paper 002 Sec. III.C.2: RMSE of the force constants on the same supercells).

Metric names per crystal: ``freq_<point>_<i>_THz`` is the i-th lowest frequency at the special
point of the path (``G`` is Gamma), ``min_frequency_THz`` (negative = imaginary),
``has_imaginary_modes``, ``asr_max_eV_per_A2``, and with a reference
``force_constant_rmse_eV_per_A2`` and ``frequency_rmse_THz``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from mlip_bench.adapters.registry import load_potential
from mlip_bench.engine.evaluate import TimedCalculator
from mlip_bench.engine.kinds.base import TaskContext
from mlip_bench.engine.kinds.crystal import CrystalKind
from mlip_bench.engine.parameters import (
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INTEGER,
    STRING,
    Param,
    array,
    fmax_param,
    nullable,
)
from mlip_bench.errors import DataError, PotentialError

if TYPE_CHECKING:
    from mlip_bench.properties.phonons import BandSegment, PhononComparison, PhononResult

#: special points of the standard paths of fcc, bcc and hcp (Setyawan-Curtarolo; G = Gamma)
_POINTS = frozenset("GKLUWX") | frozenset("GHNP") | frozenset("GAHKLM")
_TRIPLE = array(POSITIVE_INTEGER, min_items=3, max_items=3)


class PhononsKind(CrystalKind):
    """Parameters: ``supercell`` ([n1, n2, n3] multiples of the standard conventional cell: cubic
    for fcc/bcc, two-atom hexagonal for hcp) or ``min_length_A`` (12: smallest supercell with all
    face distances at least this), ``displacement_A`` (0.01), ``fmax_eV_per_A`` (1e-4),
    ``npoints`` (51 per path segment), ``dos_mesh`` ([20, 20, 20]), ``imaginary_tol_THz`` (0.05),
    and one reference: ``reference_potential`` (a potential spec; the comparison is made on the
    crystal relaxed with it) or ``reference_force_sets`` (a phonopy yaml with displacements and
    forces, e.g. DFT ``phonopy_params.yaml``).

    Curves: ``band`` (all branches, separated by NaN so that a line plot draws each branch and
    path segment on its own), ``dos``, and ``band_reference`` when a reference is given.
    """

    packages = ("phonopy",)

    name = "phonons"
    requires = frozenset({"energy", "forces", "stress"})
    parameters = (
        Param(
            "supercell",
            None,
            nullable(_TRIPLE),
            "",
            "multiples of the standard conventional cell",
            default_doc="the smallest with all face distances >= min_length_A",
        ),
        Param("min_length_A", 12.0, POSITIVE, "Å", "smallest face distance of the automatic supercell"),
        Param("displacement_A", 0.01, POSITIVE, "Å", "finite displacement"),
        fmax_param(1e-4),
        Param("npoints", 51, {"type": "integer", "minimum": 2}, "", "q-points per path segment"),
        Param("dos_mesh", (20, 20, 20), _TRIPLE, "", "q-point mesh of the DOS"),
        # = mlip_bench.properties.phonons.IMAGINARY_TOL_THZ (a test checks; that module imports phonopy)
        Param("imaginary_tol_THz", 0.05, NON_NEGATIVE, "THz", "frequencies below minus this are imaginary"),
        Param("reference_potential", None, STRING, "", "potential spec compared with", input="potential"),
        Param("reference_force_sets", None, STRING, "", "phonopy yaml with displacements and forces", input="file"),
    )
    #: special points of other lattices (phonopy's labels)
    produces_patterns = (r"freq_\w+_\d+_THz",)
    produces = frozenset(
        {
            "min_frequency_THz",
            "max_frequency_THz",
            "has_imaginary_modes",
            "asr_max_eV_per_A2",
            "gamma_acoustic_max_THz",
            "force_constant_rmse_eV_per_A2",
            "force_constant_max_abs_error_eV_per_A2",
            "frequency_rmse_THz",
            "frequency_max_abs_error_THz",
            "a_A",
        }
    ) | frozenset(f"freq_{point}_{i}_THz" for point in _POINTS for i in range(1, 7))
    plots: ClassVar[dict[str, tuple[str, str]]] = {
        "band": ("wave vector along the path (1/Å)", "frequency (THz)"),
        "dos": ("frequency (THz)", "DOS (states/THz per primitive cell)"),
        "band_reference": ("wave vector along the path (1/Å)", "frequency (THz)"),
    }

    def compute(
        self, atoms: Any, calc: TimedCalculator, ctx: TaskContext
    ) -> tuple[dict[str, float], dict[str, list[float]]]:
        from mlip_bench.properties.phonons import calc_phonons  # phonopy: only when run

        options = _options(ctx)
        result = calc_phonons(
            atoms,
            calc,
            **options,
            dos_mesh=_triple(ctx.parameter("dos_mesh")),
            imaginary_tol_THz=float(ctx.parameter("imaginary_tol_THz")),
        )
        scalars = _scalars(result)
        arrays = {"dos:x": list(result.dos_frequencies_THz), "dos:y": list(result.dos_states_per_THz)}
        arrays["band:x"], arrays["band:y"] = band_curve(result.segments)
        who = f"{ctx.potential.info.name}, {atoms.get_chemical_formula()}"
        ctx.notes.append(
            f"{who}: path {result.path.replace(',', ' | ')} (G = Gamma), supercell {result.supercell} "
            f"({result.n_supercell_atoms} atoms), {result.n_displacements} displacement(s) of {result.displacement_A} Å"
        )
        if result.has_imaginary_modes:
            ctx.notes.append(f"{who}: imaginary modes down to {result.min_frequency_THz:.2f} THz")
        comparison = _compare(atoms, calc, ctx, who, options)
        if comparison is not None:
            scalars |= {
                "force_constant_rmse_eV_per_A2": comparison.force_constant_rmse_eV_per_A2,
                "force_constant_max_abs_error_eV_per_A2": comparison.force_constant_max_abs_error_eV_per_A2,
                "frequency_rmse_THz": comparison.frequency_rmse_THz,
                "frequency_max_abs_error_THz": comparison.frequency_max_abs_error_THz,
            }
            arrays["band_reference:x"], arrays["band_reference:y"] = band_curve(comparison.reference_segments)
        return scalars, arrays


def band_curve(segments: tuple[BandSegment, ...]) -> tuple[list[float], list[float]]:
    """All branches of all segments as one x-y curve, each branch piece followed by a NaN break."""
    xs: list[float] = []
    ys: list[float] = []
    for segment in segments:
        freqs = np.asarray(segment.frequencies_THz)
        for branch in freqs.T:
            xs += [*segment.distances_per_A, math.nan]
            ys += [*(float(v) for v in branch), math.nan]
    return xs, ys


def _options(ctx: TaskContext) -> dict[str, Any]:
    supercell = ctx.parameter("supercell")
    return {
        "supercell": _triple(supercell) if supercell is not None else None,
        "min_length_A": float(ctx.parameter("min_length_A")),
        "displacement_A": float(ctx.parameter("displacement_A")),
        "fmax_eV_per_A": float(ctx.parameter("fmax_eV_per_A")),
        "npoints": int(ctx.parameter("npoints")),
    }


def _triple(values: Any) -> tuple[int, int, int]:
    a, b, c = (int(v) for v in values)
    return (a, b, c)


def _scalars(result: PhononResult) -> dict[str, float]:
    scalars = {
        "min_frequency_THz": result.min_frequency_THz,
        "max_frequency_THz": result.max_frequency_THz,
        "has_imaginary_modes": float(result.has_imaginary_modes),
        "asr_max_eV_per_A2": result.asr_max_eV_per_A2,
        "gamma_acoustic_max_THz": result.gamma_acoustic_max_THz,
        "n_supercell_atoms": float(result.n_supercell_atoms),
        "relax_converged": float(result.relax_converged),
        "a_A": result.a_A,
        "volume_A3_per_atom": result.volume_A3_per_atom,
    }
    for label, freqs in result.special_points_THz.items():
        for i, value in enumerate(freqs, start=1):
            scalars[f"freq_{label}_{i}_THz"] = value
    return scalars


def _compare(
    atoms: Any, calc: TimedCalculator, ctx: TaskContext, who: str, options: dict[str, Any]
) -> PhononComparison | None:
    """The comparison with the task's reference, or None (with a note saying why) when there is
    none or it cannot be loaded; a reference that cannot be loaded must not fail the phonons."""
    from mlip_bench.properties.phonons import compare_force_sets, compare_phonons, load_force_sets

    spec = ctx.parameter("reference_potential")
    force_sets = ctx.parameter("reference_force_sets")
    if force_sets is not None:
        try:
            reference = load_force_sets(force_sets)
        except DataError as exc:
            ctx.notes.append(f"{who}: no force-constant comparison: {exc}")
            return None
        ctx.notes.append(f"{who}: force constants compared with the force sets in {force_sets}")
        return compare_force_sets(reference, calc, npoints=options["npoints"])
    if spec is None:
        return None
    try:
        potential = load_potential(str(spec))
        missing = potential.info.unsupported(atoms.get_chemical_symbols())
        if missing:
            raise PotentialError(f"elements {sorted(missing)} not supported")
        reference_calc = potential.calculator()
    except PotentialError as exc:
        ctx.notes.append(f"{who}: no force-constant comparison: reference potential {spec!r} unavailable: {exc}")
        return None
    ctx.notes.append(
        f"{who}: force constants and frequencies compared with ANOTHER POTENTIAL, not DFT: {potential.info.spec} "
        f"({potential.info.name}; {potential.info.version}), on the displaced supercells of the crystal relaxed "
        "with it"
    )
    # errors of the reference then name it (a failing reference fails the item, like the potential)
    labelled = TimedCalculator(
        reference_calc, label=f"{atoms.get_chemical_formula()} with reference {potential.info.spec}"
    )
    return compare_phonons(atoms, calc, labelled, **options)
