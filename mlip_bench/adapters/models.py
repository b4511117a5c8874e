"""Universal and user-trained machine-learned potentials with their own Python packages
(optional extras; each imports lazily and never downloads at run time)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ase.data import chemical_symbols

from mlip_bench.adapters.base import Adapter, PotentialInfo, file_version, package_version, yes_no_option
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


def parse_mace_spec(arg: str) -> tuple[Path, bool]:
    """(model file, trusted) from ``FILE`` or ``FILE;trust=yes``; raises PotentialError on an unknown
    option or a missing file."""
    path_text, trusted = yes_no_option(arg, family="mace", name="trust")
    path = Path(path_text).expanduser()
    if not path_text or not path.is_file():
        raise PotentialError(f"mace needs a local model file: mace:MODEL_FILE ({path_text!r} not found)")
    return path, trusted


def load_mace_model(path: Path, *, trusted: bool) -> Any:
    """A MACE model from `path`, loaded weights-only (no code runs) unless `trusted`.

    A MACE ``.model`` file is a whole pickled torch module, which torch can only rebuild by
    unpickling, i.e. by running whatever the file says: such a file is refused (PotentialError)
    unless the spec says ``;trust=yes``. The allowance for ``slice`` that e3nn's constants need
    (torch >= 2.6 loads weights-only by default) is given for this call only, not process-wide.
    """
    import pickle

    import torch

    with _allow_slice(torch):
        from mace.calculators import MACECalculator  # noqa: F401  (imports e3nn, which torch.loads its constants)

        try:
            model = torch.load(str(path), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            if not trusted:
                raise PotentialError(
                    f"{path}: this MACE file is a pickled Python object, and loading it runs any code it holds; "
                    f"only weights-only files load by default. If you trust the file, say so: mace:{path};trust=yes "
                    f"(torch: {str(exc).splitlines()[0][:200]})"
                ) from None
            model = torch.load(str(path), map_location="cpu", weights_only=False)
    if not isinstance(model, torch.nn.Module):
        raise PotentialError(f"{path}: holds a {type(model).__name__}, not a MACE model (a torch module)")
    return model


def _allow_slice(torch: Any) -> Any:
    """The context in which torch's weights-only unpickler accepts ``slice`` (a no-op before torch 2.5,
    whose default is not weights-only)."""
    import contextlib

    scoped = getattr(torch.serialization, "safe_globals", None)
    return scoped([slice]) if scoped is not None else contextlib.nullcontext()


class MACEAdapter(Adapter):
    name = "mace"
    summary = (
        "a local MACE model file (mace:MODEL_FILE); a pickled .model file runs code when loaded: "
        "mace:MODEL_FILE;trust=yes if you trust it. mace_mp() downloads, so it is never a default"
    )
    example = "mace:my_model.model;trust=yes"
    requires = ("mace", "torch")
    extra = "mace"

    def describe(self, arg: str) -> PotentialInfo:
        path, trusted = parse_mace_spec(arg)
        return PotentialInfo(
            spec=f"mace:{arg}",
            name=f"MACE {path.name}",
            family=self.name,
            version=f"mace-torch {package_version('mace-torch')}; {file_version(path)}",
            elements=None,
            citation="I. Batatia et al., NeurIPS 35 (2022) 11423",
            license="MIT (mace-torch); model per its authors",
            options={"trust": "yes" if trusted else "no"},
        )

    def make_calculator(self, arg: str) -> Any:
        path, trusted = parse_mace_spec(arg)
        model = load_mace_model(path, trusted=trusted)
        from mace.calculators import MACECalculator

        return MACECalculator(models=model, device="cpu", default_dtype="float64")
