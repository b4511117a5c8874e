"""Universal and user-trained machine-learned potentials with their own Python packages
(optional extras; each imports lazily and never downloads at run time)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ase.data import chemical_symbols

from mlip_bench.adapters.base import Adapter, PotentialInfo, file_version, package_version
from mlip_bench.errors import PotentialError

_MPTRJ = "DFT PBE/PBE+U (Materials Project, MPtrj)"


class CHGNetAdapter(Adapter):
    name = "chgnet"
    summary = "CHGNet universal potential (weights ship in the wheel)"
    example = "chgnet"
    requires = ("chgnet", "torch")
    extra = "chgnet"

    def describe(self, arg: str) -> PotentialInfo:
        version = package_version("chgnet")
        return PotentialInfo(
            spec="chgnet" + (f":{arg}" if arg else ""),
            name=f"CHGNet {arg or 'default'}",
            family=self.name,
            version=f"chgnet {version}",
            elements=frozenset(chemical_symbols[1:95]),
            citation="B. Deng et al., Nat. Mach. Intell. 5 (2023) 1031",
            license="BSD-3-Clause (code), weights per the chgnet package",
            reference_method=_MPTRJ,
            options={"model": arg or "default"},
        )

    def make_calculator(self, arg: str) -> Any:
        from chgnet.model import CHGNet
        from chgnet.model.dynamics import CHGNetCalculator

        model = CHGNet.load(model_name=arg, verbose=False) if arg else CHGNet.load(verbose=False)
        return CHGNetCalculator(model=model, use_device="cpu")


class SevenNetAdapter(Adapter):
    name = "sevenn"
    summary = "SevenNet universal potentials (sevenn:7net-0; weights ship in the wheel)"
    example = "sevenn:7net-0"
    requires = ("sevenn", "torch")
    extra = "sevenn"

    def describe(self, arg: str) -> PotentialInfo:
        model = arg or "7net-0"
        return PotentialInfo(
            spec=f"sevenn:{model}",
            name=f"SevenNet {model}",
            family=self.name,
            version=f"sevenn {package_version('sevenn')}"
            + (f"; {file_version(model)}" if Path(model).is_file() else ""),
            elements=None,
            citation="Y. Park et al., J. Chem. Theory Comput. 20 (2024) 4857",
            license="GPL-3.0 (sevenn)",
            reference_method=_MPTRJ,
            options={"model": model},
        )

    def make_calculator(self, arg: str) -> Any:
        from sevenn.calculator import SevenNetCalculator

        return SevenNetCalculator(model=arg or "7net-0", device="cpu")


class MACEAdapter(Adapter):
    name = "mace"
    summary = "a local MACE model file (mace:MODEL_FILE); mace_mp() downloads, so it is never a default"
    example = "mace:my_model.model"
    requires = ("mace", "torch")
    extra = "mace"

    def describe(self, arg: str) -> PotentialInfo:
        path = Path(arg).expanduser()
        if not arg or not path.is_file():
            raise PotentialError(f"mace needs a local model file: mace:MODEL_FILE ({arg!r} not found)")
        return PotentialInfo(
            spec=f"mace:{arg}",
            name=f"MACE {path.name}",
            family=self.name,
            version=f"mace-torch {package_version('mace-torch')}; {file_version(path)}",
            elements=None,
            citation="I. Batatia et al., NeurIPS 35 (2022) 11423",
            license="MIT (mace-torch); model per its authors",
        )

    def make_calculator(self, arg: str) -> Any:
        import torch

        # e3nn 0.4.4 (which mace-torch pins) torch.loads a constants file holding `slice` objects;
        # torch >= 2.6 loads weights-only by default and refuses them. `slice` is harmless to allow.
        torch.serialization.add_safe_globals([slice])
        from mace.calculators import MACECalculator

        # a .model file is a whole pickled module; torch >= 2.6 refuses those unless told to (and
        # mace-torch 0.3.16's own loader does not), so load it here: the user chose this local file
        model = torch.load(str(Path(arg).expanduser()), map_location="cpu", weights_only=False)
        return MACECalculator(models=model, device="cpu", default_dtype="float64")
