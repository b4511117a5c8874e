"""A committee of independent potentials (``committee:SPEC|SPEC|...``): the prediction is the
members' mean, the uncertainty their spread (``committee_std``, adapters/uncertainty.py).

Each member is any potential spec the registry resolves (``mtp:...``, ``emt``, ``python:m:f``, ...).
The registry splits ``NAME:ARG`` at the first colon, so ARG is the whole ``mtp:a.mtp|mtp:b.mtp`` and
the members are its ``|``-separated parts. Example, the four Li-Al MTPs of paper 001 fitted to the
same training set::

    committee:mtp:li_al/mtp/MTP_train.mtp|mtp:li_al/mtp/MTP_train-extra-1.mtp|mtp:li_al/mtp/MTP_train-extra-2.mtp|mtp:li_al/mtp/MTP_train-extra-3.mtp

Rules (a broken spec is a PotentialError naming the committee spec and the member): at least two
members, no empty member, no duplicate (the same text, or the same potential reached through two
specs), no nesting (a member may not be a committee), every member provides energy and forces.
The committee handles the elements every member handles (the intersection; ``options["note"]`` says
so when the members' sets differ) and computes stress only when every member does.

``calc.results`` on every call: ``energy``, ``forces``, ``stress`` (fully periodic cells), the means
of the members'; ``"uncertainty"``: the standard deviation (ddof=1) of the members' total energies
/ N, eV/atom; ``"uncertainties"``: (N,) norm of the per-component standard deviation (ddof=1) of
the members' forces, eV/Å; ``"member_energies_eV"``: the members' total energies. A member that
raises makes the committee raise EvaluationError naming the member (PropertyNotImplementedError
passes through unchanged, so the caller can retry without stress).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from mlip_bench.adapters.base import Adapter, PotentialInfo
from mlip_bench.adapters.uncertainty import ATOM_KEY, STRUCTURE_KEY, UncertaintyInfo
from mlip_bench.data.checks import number, numbers_array
from mlip_bench.errors import EvaluationError, MlipBenchError, OptionalDependencyError, PotentialError

NAME = "committee"
SEPARATOR = "|"


def member_specs(arg: str) -> list[str]:
    """The member specs of ``committee:ARG``; raises PotentialError for fewer than two members, an
    empty member, a nested committee or a member given twice."""
    specs = [part.strip() for part in arg.split(SEPARATOR)]
    where = f"{NAME}:{arg}"
    if len(specs) < 2:
        raise PotentialError(f"{where}: a committee needs at least two members, separated by '{SEPARATOR}'")
    for k, spec in enumerate(specs, 1):
        if not spec:
            raise PotentialError(f"{where}: member {k} is empty")
        # by family, not by substring: python:test_committee:f is a fine member
        if spec.partition(":")[0].strip() == NAME:
            raise PotentialError(f"{where}: member {k} {spec!r} is a committee; committees do not nest")
        if spec in specs[: k - 1]:
            raise PotentialError(f"{where}: member {k} {spec!r} is given twice")
    return specs


def resolve_members(arg: str) -> list[Any]:
    """The members of ``committee:ARG`` as registry Potentials (described, not built); raises
    PotentialError (OptionalDependencyError for a missing package) naming the committee and member."""
    from mlip_bench.adapters.registry import load_potential  # the registry imports this module

    members = []
    specs = member_specs(arg)
    for k, spec in enumerate(specs, 1):
        try:
            members.append(load_potential(spec))
        except MlipBenchError as exc:
            # a missing package stays OptionalDependencyError: the runner reports it as unavailable
            kind = OptionalDependencyError if isinstance(exc, OptionalDependencyError) else PotentialError
            raise kind(f"{NAME}:{arg}: member {k} {spec!r}: {exc}") from exc
    _check_members(arg, specs, [m.info for m in members])
    return members


def _identity(info: PotentialInfo) -> tuple[str, str, str, tuple[tuple[str, str], ...]]:
    return info.family, info.name, info.version, tuple(sorted(info.options.items()))


def _check_members(arg: str, specs: Sequence[str], infos: Sequence[PotentialInfo]) -> None:
    """Every member provides energy and forces, and no two are the same potential (family, name,
    version and options alike: ``emt`` and ``emt:x``); raises PotentialError naming the member."""
    seen: dict[tuple[str, str, str, tuple[tuple[str, str], ...]], str] = {}
    for spec, info in zip(specs, infos, strict=True):
        lacking = {"energy", "forces"} - info.provides
        if lacking:
            raise PotentialError(f"{NAME}:{arg}: member {spec!r} provides no {' or '.join(sorted(lacking))}")
        same = seen.setdefault(_identity(info), spec)
        if same != spec:
            raise PotentialError(f"{NAME}:{arg}: member {spec!r} is the same potential as member {same!r}")


def common_elements(infos: Sequence[PotentialInfo]) -> tuple[frozenset[str] | None, str]:
    """(elements every member handles, a note when the members' sets differ); None means any
    element. Raises PotentialError when no element is common to all members."""
    sets = [info.elements for info in infos if info.elements is not None]
    if not sets:
        return None, ""
    common = frozenset.intersection(*sets)
    if not common:
        listed = "; ".join(f"{i.spec}: {','.join(sorted(i.elements or ()))}" for i in infos)
        raise PotentialError(f"committee members share no element ({listed})")
    if all(info.elements == common for info in infos):
        return common, ""
    differing = [f"{i.spec}: {'any' if i.elements is None else ','.join(sorted(i.elements))}" for i in infos]
    return common, f"elements are the members' intersection ({'; '.join(differing)})"


def committee_name(names: Sequence[str]) -> str:
    """ "MTP committee(MTP_train, MTP_train-extra-1)" when every name starts with the same word,
    else "committee(EMT, LennardJones)"."""
    first = {name.partition(" ")[0] for name in names}
    if len(first) == 1 and all(" " in name for name in names):
        return f"{first.pop()} committee({', '.join(name.partition(' ')[2] for name in names)})"
    return f"committee({', '.join(names)})"


def _joined(values: Sequence[str]) -> str:
    return "; ".join(dict.fromkeys(v for v in values if v))


class CommitteeCalculator(Calculator):  # type: ignore[misc]
    """Mean and spread of member calculators (ASE or old-style). `labels` name the members in
    errors; `stress` False refuses stress (a member lacks it) with PropertyNotImplementedError."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]  # noqa: RUF012 (ASE declares it so)

    def __init__(self, members: Sequence[Any], *, labels: Sequence[str] = (), stress: bool = True) -> None:
        super().__init__()
        if len(members) < 2:
            raise PotentialError(f"a committee needs at least two member calculators, got {len(members)}")
        self.members = list(members)
        self.labels = list(labels) or [f"member {k}" for k in range(1, len(members) + 1)]
        self.stress = stress

    def calculate(self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None
        want_stress = "stress" in (properties or ())
        if want_stress and not (self.stress and self.atoms.pbc.all()):
            why = "a member provides no stress" if not self.stress else "the cell is not periodic in 3 directions"
            raise PropertyNotImplementedError(f"committee: no stress ({why})")
        props = ["energy", "forces", "stress"] if want_stress else ["energy", "forces"]
        found = [_member(label, calc, self.atoms, props) for label, calc in zip(self.labels, self.members, strict=True)]
        energies = np.array([f[0] for f in found])
        forces = np.stack([f[1] for f in found])
        n = max(len(self.atoms), 1)
        self.results = {
            "energy": float(energies.mean()),
            "free_energy": float(energies.mean()),
            "forces": forces.mean(axis=0),
            "member_energies_eV": energies,
            STRUCTURE_KEY: float(energies.std(ddof=1)) / n,
            ATOM_KEY: np.linalg.norm(forces.std(axis=0, ddof=1), axis=1),
        }
        if want_stress:
            self.results["stress"] = np.mean([f[2] for f in found if f[2] is not None], axis=0)


def _member(label: str, calc: Any, atoms: Atoms, props: list[str]) -> tuple[float, np.ndarray, np.ndarray | None]:
    """(energy eV, forces (N, 3) eV/Å, Voigt stress (6,) eV/Å³ or None) of one member; raises
    EvaluationError naming the member when it raises or returns an unusable value."""
    try:
        results = _call(calc, atoms, props)
    except PropertyNotImplementedError:
        raise
    except Exception as exc:  # a member may fail with any error; the committee names it
        raise EvaluationError(f"committee member {label} raised {type(exc).__name__}: {exc}") from exc
    energy, why = number(results.get("energy"), "energy")
    forces, why_f = numbers_array(results.get("forces"), "forces", [(len(atoms), 3)])
    # a stress nobody asked for (a non-periodic cell) may be anything; it is not looked at
    stress, why_s = numbers_array(results.get("stress") if "stress" in props else None, "stress", [(6,), (3, 3)])
    problem = why or why_f or why_s or _absent(energy, forces, stress, "stress" in props)
    if problem:
        raise EvaluationError(f"committee member {label} returned unusable results: {problem}")
    assert energy is not None and forces is not None
    if stress is not None and stress.shape == (3, 3):
        stress = full_3x3_to_voigt_6_stress(stress)
    return energy, forces, stress


def _absent(energy: float | None, forces: np.ndarray | None, stress: np.ndarray | None, want_stress: bool) -> str:
    missing = [name for name, v in (("energy", energy), ("forces", forces)) if v is None]
    missing += ["stress"] if want_stress and stress is None else []
    return f"no {', '.join(missing)}" if missing else ""


def _call(calc: Any, atoms: Atoms, props: list[str]) -> dict[str, Any]:
    work = atoms.copy()  # keeps atoms.info (the predictions adapter looks structures up by id)
    if isinstance(calc, Calculator):
        calc.reset()  # some calculators keep size-dependent state between structures
        calc.calculate(work, props, all_changes)
        return dict(calc.results)
    work.calc = calc  # old-style calculators (asap3) compute lazily
    results = {"energy": work.get_potential_energy(), "forces": work.get_forces()}
    if "stress" in props:
        results["stress"] = work.get_stress()
    return results


class CommitteeAdapter(Adapter):
    name = NAME
    summary = (
        "mean of several potentials, their spread as uncertainty (committee:SPEC|SPEC|..., any specs, >= 2, no nesting)"
    )
    example = "committee:mtp:A.mtp|mtp:B.mtp"

    def describe(self, arg: str) -> PotentialInfo:
        infos = [member.info for member in resolve_members(arg)]
        try:
            elements, note = common_elements(infos)
        except PotentialError as exc:
            raise PotentialError(f"{NAME}:{arg}: {exc}") from None
        options = {"members": SEPARATOR.join(i.spec for i in infos), "size": str(len(infos))}
        if note:
            options["note"] = note
        return PotentialInfo(
            spec=f"{NAME}:{arg}",
            name=committee_name([i.name for i in infos]),
            family=self.name,
            # the members' versions in member order (the mean does not depend on it, but a table reads it so)
            version=" | ".join(i.version for i in infos),
            elements=elements,
            citation=_joined([i.citation for i in infos]),
            license=_joined([i.license for i in infos]),
            reference_method=_joined([i.reference_method for i in infos]),
            options=options,
            provides=frozenset.intersection(*(i.provides for i in infos)),
            uncertainty=UncertaintyInfo(
                measure="committee_std",
                unit="eV/atom",
                per_atom=True,
                atom_unit="eV/Å",
                source=f"{len(infos)} members: {options['members']}",
            ),
        )

    def make_calculator(self, arg: str) -> CommitteeCalculator:
        members = resolve_members(arg)
        calculators = []
        for member in members:
            try:
                calculators.append(member.calculator())
            except Exception as exc:  # a member's model loader may fail with any error; name the member
                kind = OptionalDependencyError if isinstance(exc, OptionalDependencyError) else PotentialError
                raise kind(f"{NAME}:{arg}: member {member.info.spec!r}: {type(exc).__name__}: {exc}") from exc
        stress = all("stress" in m.info.provides for m in members)
        return CommitteeCalculator(calculators, labels=[repr(m.info.spec) for m in members], stress=stress)
