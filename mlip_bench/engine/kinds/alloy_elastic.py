"""Kind ``elastic_alloy``: elastic moduli of random fcc solid solutions versus composition (paper 000,
Figs. 4-5): an SQS per composition, then finite-temperature stress-strain
(:mod:`mlip_bench.properties.md_elastic`), or 0 K relaxation with ``temperature_K: 0``.

The task's single ``structures`` entry is the host lattice (fcc, its element and starting a_A). The
compositions are a task parameter, one item each, in wt% of the solutes (the host is the balance)::

    compositions:
      - {id: AlMg10, wt_percent: {Mg: 10}}

Metrics are ``<id>.<value>`` (``AlMg10.B_GPa``). Parameters start from ``preset`` (``quick``: 32-atom
cells, 300 K, a few ps; ``paper``: 256 atoms, 298 K, 30 ps NPT and 30 ps NVT per strain with 3 fs
steps, stresses averaged over the last 500 steps) and any parameter named in the task overrides it.
A composition whose smallest solute would get fewer than ``min_solute_atoms`` atoms uses the smallest
larger supercell that holds them (3 wt% Zr needs 108 sites for one atom).

Parameters: ``preset``, ``compositions``, ``supercell`` (conventional cells per edge), ``sqs_steps``,
``sqs_cutoffs_A`` (icet pair, triplet cutoffs), ``min_solute_atoms``, ``x_element`` (x axis of the
plots) and every field of :class:`MdSettings` (``temperature_K``, ``timestep_fs``, ``npt_steps``,
``nvt_steps``, ``average_steps``, ``seed``, ``tolerance``, ``symprec_A``, ``cell_tolerance``, ...).
The SQS and the MD share ``seed``. ``md_engine``: ``auto`` (default: LAMMPS's own integrators for
``eam:``/``lammps:`` potentials, ASE's for any other calculator), ``ase`` or ``lammps``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from mlip_bench.adapters.lammps import lammps_setup
from mlip_bench.engine.evaluate import TimedCalculator
from mlip_bench.engine.kinds.base import ItemOutput, ItemPlan, Outcome, TaskContext, TaskKind, record_output
from mlip_bench.engine.parameters import NON_NEGATIVE, STRING, Param, array, field_param, one_of
from mlip_bench.engine.records import ItemRecord
from mlip_bench.engine.spec import TaskSpec
from mlip_bench.errors import DataError, EvaluationError, PropertyError, TaskSpecError
from mlip_bench.properties.lammps_md import LammpsEngine
from mlip_bench.properties.md_elastic import MdElasticResult, MdSettings, calc_elastic_md
from mlip_bench.properties.md_engine import AseEngine, MdEngine
from mlip_bench.properties.sqs import SqsResult, atom_counts, generate_sqs, weight_percent

PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "supercell": 2,
        "temperature_K": 300.0,
        "timestep_fs": 2.0,
        "npt_steps": 1000,
        "nvt_steps": 600,
        "average_steps": 300,
        "sqs_steps": 3000,
    },
    "paper": {
        "supercell": 4,
        "temperature_K": 298.0,
        "timestep_fs": 3.0,
        "npt_steps": 10000,
        "nvt_steps": 10000,
        "average_steps": 500,
        "sqs_steps": 20000,
    },
}
_MAX_SUPERCELL = 8
MD_ENGINES = ("auto", "ase", "lammps")
#: the x axis of the composition plots: wt% of parameter ``x_element`` (Mg by default, as in paper 000)
_X_LABEL = "solute x_element content (wt%)"


@dataclass(frozen=True)
class Composition:
    id: str
    wt_percent: tuple[tuple[str, float], ...]


@dataclass(frozen=True, kw_only=True)
class AlloyParameters:
    """Task parameters after the preset; MD settings are passed on as :class:`MdSettings`."""

    compositions: tuple[Composition, ...]
    md: MdSettings
    supercell: int
    sqs_steps: int
    sqs_cutoffs_A: tuple[float, ...] = (6.0, 4.5)
    min_solute_atoms: int = 1
    x_element: str = "Mg"
    #: "auto" (LAMMPS for eam:/lammps: potentials, else ASE), "ase" or "lammps"
    md_engine: str = "auto"

    @classmethod
    def from_task(cls, raw: Mapping[str, Any]) -> AlloyParameters:
        """Raises TaskSpecError for an unknown preset or parameter, or bad compositions."""
        preset = str(raw.get("preset", "quick"))
        if preset not in PRESETS:
            raise TaskSpecError(f"elastic_alloy: unknown preset {preset!r} (known: {sorted(PRESETS)})")
        merged = {**PRESETS[preset], **{k: v for k, v in raw.items() if k != "preset"}}
        md_names = {f.name for f in dataclasses.fields(MdSettings)}
        own = {f.name for f in dataclasses.fields(cls)} - {"md", "compositions"}
        unknown = set(merged) - md_names - own - {"compositions"}
        if unknown:
            raise TaskSpecError(f"elastic_alloy: unknown parameters {sorted(unknown)}")
        if str(merged.get("md_engine", "auto")) not in MD_ENGINES:
            raise TaskSpecError(f"elastic_alloy: md_engine {merged['md_engine']!r} unknown (known: {MD_ENGINES})")
        md = MdSettings(**{k: v for k, v in merged.items() if k in md_names})
        kwargs = {k: v for k, v in merged.items() if k in own}
        if "sqs_cutoffs_A" in kwargs:
            kwargs["sqs_cutoffs_A"] = tuple(float(c) for c in kwargs["sqs_cutoffs_A"])
        return cls(compositions=_compositions(merged.get("compositions")), md=md, **kwargs)


def _compositions(raw: Any) -> tuple[Composition, ...]:
    if not isinstance(raw, list) or not raw:
        raise TaskSpecError("elastic_alloy: parameter 'compositions' must be a non-empty list")
    out = []
    for entry in raw:
        if not isinstance(entry, dict) or "id" not in entry or not isinstance(entry.get("wt_percent", {}), dict):
            raise TaskSpecError(f"elastic_alloy: composition {entry!r} needs an id and a wt_percent mapping")
        wt = tuple((str(s), float(w)) for s, w in (entry.get("wt_percent") or {}).items())
        out.append(Composition(str(entry["id"]), wt))
    ids = [c.id for c in out]
    if len(set(ids)) != len(ids):
        raise TaskSpecError(f"elastic_alloy: duplicate composition ids in {ids}")
    return tuple(out)


_COMPOSITION = {
    "type": "object",
    "required": ["id"],
    "additionalProperties": False,
    "properties": {"id": STRING, "wt_percent": {"type": "object", "additionalProperties": NON_NEGATIVE}},
}


def _declared_parameters() -> tuple[Param, ...]:
    """The preset, the compositions, then every field of AlloyParameters and MdSettings (one source
    for names, types and defaults); a field a preset sets gets its default from the preset."""
    by_preset = {name for values in PRESETS.values() for name in values}
    out = [
        Param("preset", "quick", one_of(*PRESETS), "", "starting values of the MD and SQS settings"),
        Param(
            "compositions",
            None,
            array(_COMPOSITION, min_items=1),
            "",
            "alloys, one item each: {id, wt_percent: {solute: wt%}}",
            required=True,
        ),
    ]
    for cls in (AlloyParameters, MdSettings):
        for f in dataclasses.fields(cls):
            if f.name in ("md", "compositions"):
                continue
            if f.name in by_preset:
                text = ", ".join(f"{p}: {v[f.name]}" for p, v in PRESETS.items())
                out.append(field_param(f, default=None, doc=f"{cls.__name__}.{f.name}", default_doc=f"preset ({text})"))
            elif f.name == "md_engine":
                out.append(dataclasses.replace(field_param(f), schema=one_of(*MD_ENGINES)))
            else:
                out.append(field_param(f, doc=f"{cls.__name__}.{f.name}"))
    return tuple(out)


class AlloyElasticKind(TaskKind):
    packages = ("icet", "lammps")
    name = "elastic_alloy"
    parameters = _declared_parameters()
    #: the actual composition of each SQS
    produces_patterns = (r"[A-Z][a-z]?_wt_percent",)
    needs_dataset = False
    requires = frozenset({"energy", "forces", "stress"})
    produces = frozenset(
        {
            "C11_GPa",
            "C12_GPa",
            "C44_GPa",
            "B_GPa",
            "G_GPa",
            "E_GPa",
            "nu",
            "cubic",
            "host_spacegroup_number",
            "cell_anisotropy",
            "a_A",
            "density_g_per_cm3",
            "sqs_max_abs_alpha",
        }
    )
    plots: ClassVar[dict[str, tuple[str, str]]] = {
        "B_vs_x": (_X_LABEL, "bulk modulus B (GPa)"),
        "G_vs_x": (_X_LABEL, "shear modulus G (GPa)"),
        "E_vs_x": (_X_LABEL, "Young's modulus E (GPa)"),
        "nu_vs_x": (_X_LABEL, "Poisson's ratio ν"),
        "stress_strain": ("strain δ (%)", "stress τ_ii along the stretched axis (GPa)"),
    }

    def accepts_metric(self, name: str, task: TaskSpec) -> bool:
        """``<composition id>.<metric>``: every value is per composition."""
        prefix, dot, base = name.rpartition(".")
        compositions = task.parameters.get("compositions") or ()
        ids = {str(c.get("id")) for c in compositions if isinstance(c, dict)}
        return bool(dot) and prefix in ids and super().accepts_metric(base, task)

    def items(self, task: TaskSpec) -> tuple[ItemPlan, ...]:
        """One work item per composition (its SQS, relaxation and MD runs)."""
        return tuple(ItemPlan(c.id, c.id) for c in AlloyParameters.from_task(task.parameters).compositions)

    def run_item(self, ctx: TaskContext, item: ItemPlan) -> ItemOutput:
        params = AlloyParameters.from_task(ctx.task.parameters)
        if len(ctx.task.structures) != 1 or ctx.task.structures[0].crystal != "fcc":
            raise TaskSpecError(f"{ctx.task.id}: elastic_alloy needs exactly one fcc host structure")
        host = ctx.task.structures[0]
        comp = next(c for c in params.compositions if c.id == item.id)
        cell = _supercell(dict(comp.wt_percent), host.element, params)
        return record_output(ctx, lambda: self._item(comp, *cell, host.element, host.a_A, params, ctx))

    def reduce(self, ctx: TaskContext, outputs: dict[str, ItemOutput]) -> Outcome:
        items: list[ItemRecord] = []
        values: dict[str, float] = {}
        for comp in AlloyParameters.from_task(ctx.task.parameters).compositions:
            output = outputs.get(comp.id)
            if output is None or output.record is None:
                continue  # lost to a crash or timeout: the runner records it
            items.append(output.record)
            ctx.notes.extend(output.notes)
            values |= {f"{comp.id}.{k}": v for k, v in output.record.values.items()}
        return Outcome(values=values, items=tuple(items), n_scored=sum(i.status == "ok" for i in items))

    def run(self, ctx: TaskContext) -> Outcome:
        """Every composition in turn, in this process."""
        return self.reduce(ctx, {item.id: self.run_item(ctx, item) for item in self.items(ctx.task)})

    def _item(
        self,
        comp: Composition,
        repeat: int,
        counts: dict[str, int],
        host: str,
        a_A: float,
        params: AlloyParameters,
        ctx: TaskContext,
    ) -> ItemRecord:
        n_atoms = sum(counts.values())
        missing = ctx.potential.info.unsupported([s for s, n in counts.items() if n > 0])
        if missing:
            return ItemRecord(comp.id, "skipped", f"elements {sorted(missing)} not supported", n_atoms)
        calc = TimedCalculator(ctx.calculator, label=f"{comp.id} with {ctx.potential.info.spec}")
        try:
            sqs = generate_sqs(
                counts,
                a_A=a_A,
                repeat=repeat,
                cutoffs_A=params.sqs_cutoffs_A,
                n_steps=params.sqs_steps,
                seed=params.md.seed,
            )
            engine = _md_engine(params.md_engine, ctx, calc)
            # MD checkpoints in the item's scratch folder: a killed run resumes mid-trajectory
            checkpoints = Path(ctx.scratch) / comp.id if ctx.scratch else None
            result = calc_elastic_md(
                sqs.atoms, calc, settings=params.md, host=host, engine=engine, checkpoint_dir=checkpoints
            )
        except (PropertyError, EvaluationError) as exc:
            return ItemRecord(comp.id, "failed", str(exc), n_atoms)
        finally:
            ctx.calculator_seconds += calc.seconds
        scalars, arrays = _record(result, sqs, repeat, params.x_element)
        scalars["potential_calls"] = float(calc.calls)
        # the series of paper 000 Figs. 4-5: same other solutes, x_element varying
        others = ", ".join(f"{s} {w:g} wt%" for s, w in comp.wt_percent if s != params.x_element and w > 0)
        if not scalars["cubic"]:
            ctx.notes.append(
                f"{ctx.potential.info.name}, {comp.id}: averaged cell is {result.lattice_system} at relative "
                f"tolerance {params.md.cell_tolerance} (anisotropy {result.cell_anisotropy:.3f}); "
                "moduli are cubic averages"
            )
        md = engine.name if params.md.temperature_K > 0 else "none (0 K)"
        group = f"other solutes: {others or 'none'}; MD engine: {md}"
        return ItemRecord(comp.id, "ok", "", n_atoms, group, scalars, arrays)


def _md_engine(choice: str, ctx: TaskContext, calc: object) -> MdEngine:
    """LAMMPS's own integrators for a potential given as LAMMPS commands (9x faster than ASE's loop
    over the same LAMMPS calculator for 256 EAM atoms, ``nox -s bench``), ASE's for any other; raises PropertyError when
    "lammps" is asked of a potential that is not one."""
    setup = lammps_setup(ctx.potential.adapter, ctx.potential.arg) if choice != "ase" else None
    if setup is not None:
        return LammpsEngine(setup, calc)
    if choice == "lammps":
        raise PropertyError(f"md_engine lammps needs a LAMMPS potential (eam:, lammps:), not {ctx.potential.info.spec}")
    return AseEngine(calc)


def _supercell(wt: dict[str, float], host: str, params: AlloyParameters) -> tuple[int, dict[str, int]]:
    """Smallest repeat >= params.supercell giving each solute at least min_solute_atoms atoms.

    Raises TaskSpecError for a bad composition or one too dilute for the largest supercell."""
    for repeat in range(params.supercell, _MAX_SUPERCELL + 1):
        try:
            counts = atom_counts(wt, 4 * repeat**3, host=host)
        except DataError as exc:
            raise TaskSpecError(f"elastic_alloy: {exc}") from exc
        if all(counts.get(s, 0) >= params.min_solute_atoms for s, w in wt.items() if w > 0):
            return repeat, counts
    raise TaskSpecError(f"elastic_alloy: {wt} wt% needs over {4 * _MAX_SUPERCELL**3} sites for every solute")


def _record(
    result: MdElasticResult, sqs: SqsResult, repeat: int, x_element: str
) -> tuple[dict[str, float], dict[str, list[float]]]:
    m, u = result.moduli, result.moduli_std
    scalars: dict[str, float] = {
        "C11_GPa": result.C11_GPa,
        "C12_GPa": result.C12_GPa,
        "C44_GPa": result.C44_GPa,
        "C11_std_GPa": result.C11_std_GPa,
        "C12_std_GPa": result.C12_std_GPa,
        "C44_std_GPa": result.C44_std_GPa,
    }
    for field in dataclasses.fields(m):
        scalars[field.name] = getattr(m, field.name)
        scalars[field.name.replace("_GPa", "_std_GPa") if "GPa" in field.name else "nu_std"] = getattr(u, field.name)
    actual = weight_percent(dict(sqs.counts))
    scalars |= {
        "temperature_K": result.temperature_K,
        "born_stable": float(result.born_stable),
        "cubic": float(result.lattice_system == "cubic"),
        "host_spacegroup_number": float(result.host_spacegroup_number),
        "cell_anisotropy": result.cell_anisotropy,
        "a_A": sum(result.cell_lengths_A) / 3 / repeat,
        "volume_A3_per_atom": result.volume_A3_per_atom,
        "density_g_per_cm3": result.density_g_per_cm3,
        "consistency_max_rel_diff": result.consistency_max_rel_diff,
        "refined": float(result.refined),
        "stress_sem_max_GPa": result.stress_sem_max_GPa,
        "relax_converged": float(result.relax_converged),
        "md_steps": float(result.md_steps),
        "sqs_max_abs_alpha": sqs.max_abs_alpha,
        **{f"{s}_wt_percent": w for s, w in actual.items()},
    }
    x = [actual.get(x_element, 0.0)]
    arrays = {
        "B_vs_x:x": x,
        "B_vs_x:y": [m.B_GPa],
        "G_vs_x:x": x,
        "G_vs_x:y": [m.G_GPa],
        "E_vs_x:x": x,
        "E_vs_x:y": [m.E_GPa],
        "nu_vs_x:x": x,
        "nu_vs_x:y": [m.nu],
        "stress_strain:x": list(result.strains_percent),
        "stress_strain:y": list(result.axial_stress_GPa),
        "C_raw_GPa": [v for row in result.C_raw_GPa for v in row],
        "cell_lengths_A": list(result.cell_lengths_A),
        "cell_angles_deg": list(result.cell_angles_deg),
    }
    return scalars, arrays
