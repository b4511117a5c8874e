"""The ``gpaw:`` adapter: its spec (settings validated and recorded, no GPAW needed), GPAW runs with
those settings (marked ``gpaw``: `nox -s gpaw`; skipped without GPAW), the reference role with a
DFT code, and the regenerated hand-run reference agreeing with the hand-run numbers."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from mlip_bench.adapters.gpaw import GpawAdapter, GpawSettings, parse_gpaw_spec
from mlip_bench.adapters.registry import adapters, load_potential
from mlip_bench.errors import OptionalDependencyError, PotentialError

GPAW_DIR = Path(__file__).resolve().parents[1] / "reference_data" / "curves" / "gpaw"
#: small and fast: a few seconds per point on one core
CHEAP = "ecut_eV=150;kpts=4x4x4;smearing=fermi-dirac:0.2;conv_energy_eV=1e-4"


def test_defaults_are_the_hand_run_settings_and_are_recorded() -> None:
    settings = parse_gpaw_spec("")
    assert settings == GpawSettings()
    assert (settings.ecut_eV, settings.xc, settings.smearing, settings.width_eV) == (
        300.0,
        "PBE",
        "marzari-vanderbilt",
        0.4,
    )
    info = GpawAdapter().describe("kpts=15x15x15;smearing=methfessel-paxton:0.2;conv_energy_eV=1e-6")
    assert info.spec == "gpaw:kpts=15x15x15;smearing=methfessel-paxton:0.2;conv_energy_eV=1e-6"
    options = info.options
    assert options["kpts"] == "15x15x15" and options["kpts_density"] == "-" and options["order"] == "1"
    assert options["conv_energy_eV"] == "1e-06" and options["ecut_eV"] == "300.0" and options["xc"] == "PBE"
    assert "paw_setups" in options and info.version.startswith("gpaw ")
    assert "15x15x15 k" in options["settings"] and "methfessel-paxton 0.2 eV order 1" in options["settings"]
    assert "gpaw" in adapters()
    # unset: the plain Monkhorst-Pack mesh of a GPAW script's kpts=(15, 15, 15); ASE's gamma=False
    # would shift an odd mesh off Γ (3.6 meV/atom on the Bain path at 15^3)
    assert settings.gamma is None and parse_gpaw_spec("gamma=no").gamma is False


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("ecutt_eV=300", r"unknown setting 'ecutt_eV=300'"),
        ("ecut_eV", r"unknown setting 'ecut_eV'"),
        ("ecut_eV=0", r"ecut_eV='0' must be a positive"),
        ("ecut_eV=inf", r"must be a positive finite"),
        ("kpts=4x4", r"three whole numbers"),
        ("kpts=4x4x0", r"must be a positive"),
        ("kpts=4x4x999", r"more than 200"),
        ("kpts=4x4x4;kpts_density=3", r"not both"),
        ("smearing=gaussian:0.1", r"NAME one of"),
        ("smearing=fermi-dirac", r"NAME:WIDTH_eV"),
        ("smearing=fermi-dirac:0.1:2", r"order is for methfessel-paxton only"),
        ("mode=lcao", r"only mode=pw"),
        ("xc=PBE;xc=LDA", r"xc given twice"),
        ("xc=../../etc", r"not a valid name"),
        ("gamma=maybe", r"yes or no"),
        ("maxiter=2.5", r"not a whole number"),
    ],
)
def test_bad_specs_name_the_spec(arg: str, message: str) -> None:
    with pytest.raises(PotentialError, match=message) as caught:
        GpawAdapter().describe(arg)
    assert f"gpaw:{arg}" in str(caught.value)


def test_missing_gpaw_says_how_to_install() -> None:
    if GpawAdapter().missing() is None:
        pytest.skip("GPAW is installed here")
    with pytest.raises(OptionalDependencyError, match=r"\[gpaw\]"):
        load_potential(f"gpaw:{CHEAP}")


def _regenerated(name: str) -> dict:
    path = GPAW_DIR / "regenerated" / f"al_{name}_k15.yaml"
    if not path.is_file():
        pytest.skip(f"{path} not generated")
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("name", ["bain", "trigonal"])
def test_regenerated_reference_agrees_with_the_hand_run_one(name: str) -> None:
    """reference_data/curves/gpaw/regenerated (mlip-bench reference with gpaw:, GPAW 26) against
    paths_k15.json (the hand-run script, GPAW 22.8): same settings, at a subset of its points."""
    written = _regenerated(name)
    [curve] = written["curves"]
    assert (
        curve["provenance"]["data_sha256"] == hashlib.sha256(json.dumps([curve["x"], curve["y"]]).encode()).hexdigest()
    )
    hand = {round(x, 6): y for x, y in json.loads((GPAW_DIR / "paths_k15.json").read_text())[name]}
    new = {round(x, 6): y for x, y in zip(curve["x"], curve["y"], strict=True)}
    assert set(new) <= set(hand) and len(new) >= 4
    worst = max(abs(new[x] - hand[x]) for x in new)
    assert worst < 0.05, f"{name}: regenerated and hand-run curves differ by up to {worst:.4f} meV/atom"
    settings = written["provenance"]["calculator"]["settings"]
    assert (settings["kpts"], settings["smearing"], settings["width_eV"]) == ("15x15x15", "methfessel-paxton", "0.2")


gpaw = pytest.mark.gpaw


@gpaw
def test_gpaw_single_point_uses_the_spec_settings() -> None:
    pytest.importorskip("gpaw")
    from ase.build import bulk

    from mlip_bench.engine.evaluate import predict

    atoms = bulk("Al", "fcc", a=4.04)
    first = predict(load_potential(f"gpaw:{CHEAP}").calculator(), atoms, label="Al fcc")
    assert math.isfinite(first.energy_eV) and first.stress_eV_per_A3 is not None
    assert (
        first.forces_eV_per_A is not None and np.abs(first.forces_eV_per_A).max() < 1e-6
    )  # one atom: no force by symmetry
    # each setting reaches GPAW: another smearing, cutoff or mesh gives another energy
    for change in ("smearing=fermi-dirac:0.3", "ecut_eV=200", "kpts=5x5x5"):
        spec = ";".join(p for p in CHEAP.split(";") if not p.startswith(change.split("=")[0])) + f";{change}"
        other = predict(load_potential(f"gpaw:{spec}").calculator(), atoms, label="Al fcc")
        assert abs(other.energy_eV - first.energy_eV) > 1e-5, change


@gpaw
def test_gpaw_as_the_reference_writes_a_dft_curve_with_provenance(tmp_path: Path) -> None:
    pytest.importorskip("gpaw")
    from mlip_bench.engine.executors import SerialExecutor
    from mlip_bench.engine.reference import make_reference

    spec = f"gpaw:{CHEAP.replace('4x4x4', '6x6x6')}"  # 4x4x4 puts fcc above c/a = 1.1
    result = make_reference(
        "al-bain-path", spec, results_dir=tmp_path / "results", out_path=tmp_path / "bain.yaml",
        parameters={"start": 0.9, "stop": 1.1, "step": 0.1, "reference_curve": None}, executor=SerialExecutor(),
    )  # fmt: skip
    written = yaml.safe_load((tmp_path / "bain.yaml").read_text())
    [curve] = written["curves"]
    assert curve["x"] == [0.9, 1.0, 1.1] and curve["y"][1] == 0.0 and min(curve["y"][0], curve["y"][2]) > 1.0
    assert curve["kind"].startswith("DFT (PBE), computed by mlip-bench reference with gpaw ")
    prov = written["provenance"]
    assert prov["calculator"]["settings"]["kpts"] == "6x6x6" and prov["calculator"]["settings"]["ecut_eV"] == "150.0"
    setup = prov["inputs"]["paw_setup Al"]
    assert "Al.PBE" in setup and len(setup.rsplit(" ", 1)[-1]) == 64
    assert prov["environment"]["omp_num_threads"] == result.record.environment.omp_num_threads
