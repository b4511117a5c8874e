"""GPAW (plane-wave DFT) as a potential, so that a DFT code can fill the reference role
(``mlip-bench reference``, engine/reference.py) like any other calculator.

Spec: ``gpaw`` or ``gpaw:KEY=VALUE;KEY=VALUE...`` with these keys (defaults: the settings of the
hand-run references in reference_data/curves/gpaw, PW 300 eV, PBE, 0.4 eV cold smearing):

- ``mode=pw`` (plane waves; the only mode: it has the stress every kind may ask for)
- ``ecut_eV=300`` plane-wave cutoff (eV)
- ``xc=PBE`` functional (a GPAW or libxc name)
- ``kpts=15x15x15`` a Monkhorst-Pack mesh, or ``kpts_density=10`` k-points per Å⁻¹ along each
  reciprocal vector (ASE's rule; the default, 10, is 27³ on the one-atom Al fcc cell); not both
- ``gamma=yes|no`` shift the mesh to contain Γ, or so that it does not (ASE's rule); unset: the
  plain Monkhorst-Pack mesh (Γ in it for odd sizes), as ``kpts=(15, 15, 15)`` in a GPAW script
- ``smearing=marzari-vanderbilt:0.4`` occupation smearing NAME:WIDTH_eV[:ORDER] with NAME one of
  fermi-dirac, marzari-vanderbilt, methfessel-paxton (ORDER, default 1, for methfessel-paxton only)
- ``conv_energy_eV=1e-6`` (per valence electron), ``conv_density=1e-4`` (electrons per valence
  electron), ``conv_eigenstates_eV2=4e-8`` (per valence electron), ``maxiter=333``: SCF convergence
- ``setups=paw`` PAW setup set; ``spinpol=no|yes``

Every setting, with the defaults filled in, is in ``PotentialInfo.options``; ``version`` holds the
GPAW version and a sha256 of the PAW setup directory (its release where it can be told), so a
changed setup or code changes every stored result's key. Unknown keys and bad values raise
PotentialError naming the spec.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import math
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mlip_bench.adapters.base import Adapter, PotentialInfo, package_version
from mlip_bench.errors import PotentialError

SMEARINGS = ("fermi-dirac", "marzari-vanderbilt", "methfessel-paxton")
_CITATION = (
    "J. Enkovaara et al., J. Phys.: Condens. Matter 22 (2010) 253202; "
    "J. J. Mortensen et al., J. Chem. Phys. 160 (2024) 092503"
)
_NAME = re.compile(r"^[A-Za-z0-9_+\-.]{1,64}$")
#: where Debian's gpaw-data puts the setups (GPAW also searches there), and its changelog (release)
_DEBIAN_SETUPS = Path("/usr/share/gpaw-setups")
_DEBIAN_CHANGELOG = Path("/usr/share/doc/gpaw-data/changelog.Debian.gz")


@dataclass(frozen=True)
class GpawSettings:
    """Everything a GPAW spec sets (units in the names; conv_* per valence electron)."""

    mode: str = "pw"
    ecut_eV: float = 300.0
    xc: str = "PBE"
    kpts: tuple[int, int, int] | None = None
    kpts_density: float | None = 10.0
    gamma: bool | None = None
    smearing: str = "marzari-vanderbilt"
    width_eV: float = 0.4
    order: int | None = None
    conv_energy_eV: float = 1e-6
    conv_density: float = 1e-4
    conv_eigenstates_eV2: float = 4e-8
    maxiter: int = 333
    setups: str = "paw"
    spinpol: bool = False

    def options(self) -> dict[str, str]:
        """The settings as strings (PotentialInfo.options); unused ones ('-') included."""
        out = {
            k: ("-" if v is None else "yes" if v is True else "no" if v is False else str(v))
            for k, v in asdict(self).items()
        }
        out["kpts"] = "x".join(map(str, self.kpts)) if self.kpts else "-"
        return out

    def describe(self) -> str:
        """The settings in one line, for notes and labels."""
        mesh = f"{'x'.join(map(str, self.kpts))} k" if self.kpts else f"k-point density {self.kpts_density:g}/Å⁻¹"
        order = f" order {self.order}" if self.order is not None else ""
        shift = {None: "", True: " (Γ-centred)", False: " (shifted off Γ)"}[self.gamma]
        return (
            f"PW({self.ecut_eV:g} eV) {self.xc}, {mesh}{shift}, "
            f"{self.smearing} {self.width_eV:g} eV{order}, SCF energy {self.conv_energy_eV:g} eV/electron, "
            f"density {self.conv_density:g}, eigenstates {self.conv_eigenstates_eV2:g} eV²/electron, "
            f"setups {self.setups}{', spin-polarised' if self.spinpol else ''}"
        )


def _positive(text: str, key: str, where: str, *, integer: bool = False) -> float:
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        raise PotentialError(f"{where}: {key}={text!r} is not a {'whole ' if integer else ''}number") from None
    if not math.isfinite(value) or value <= 0:
        raise PotentialError(f"{where}: {key}={text!r} must be a positive finite number")
    return value


def _mesh(text: str, where: str) -> tuple[int, int, int]:
    parts = text.lower().split("x")
    if len(parts) != 3:
        raise PotentialError(f"{where}: kpts={text!r} must be three whole numbers such as 15x15x15")
    n = tuple(int(_positive(p, "kpts", where, integer=True)) for p in parts)
    if max(n) > 200:
        raise PotentialError(f"{where}: kpts={text!r}: more than 200 points along a direction")
    return n[0], n[1], n[2]


def _smearing(text: str, where: str) -> dict[str, Any]:
    name, _, rest = text.partition(":")
    width, _, order = rest.partition(":")
    if name not in SMEARINGS or not width:
        raise PotentialError(f"{where}: smearing={text!r} must be NAME:WIDTH_eV[:ORDER], NAME one of {SMEARINGS}")
    out: dict[str, Any] = {"smearing": name, "width_eV": _positive(width, "smearing width", where), "order": None}
    if name == "methfessel-paxton":
        out["order"] = int(_positive(order or "1", "smearing order", where, integer=True))
    elif order:
        raise PotentialError(f"{where}: smearing={text!r}: an order is for methfessel-paxton only")
    return out


def _yes_no(text: str, key: str, where: str) -> bool:
    if text not in ("yes", "no"):
        raise PotentialError(f"{where}: {key}={text!r} must be yes or no")
    return text == "yes"


_KEYS = (
    "mode", "ecut_eV", "xc", "kpts", "kpts_density", "gamma", "smearing", "conv_energy_eV", "conv_density",
    "conv_eigenstates_eV2", "maxiter", "setups", "spinpol",
)  # fmt: skip


def parse_gpaw_spec(arg: str) -> GpawSettings:
    """The settings of spec ``gpaw:ARG``; raises PotentialError naming the spec for an unknown key,
    a key given twice, a bad value, or both ``kpts`` and ``kpts_density``."""
    where = f"gpaw:{arg}"
    given: dict[str, str] = {}
    for part in (p.strip() for p in arg.split(";")):
        if not part:
            continue
        key, sep, text = (s.strip() for s in part.partition("="))
        if key not in _KEYS or not sep:
            raise PotentialError(f"{where}: unknown setting {part!r} (known: {', '.join(_KEYS)}; KEY=VALUE;...)")
        if key in given:
            raise PotentialError(f"{where}: {key} given twice")
        given[key] = text
    values: dict[str, Any] = {}
    if given.get("mode", "pw") != "pw":
        raise PotentialError(f"{where}: mode={given['mode']!r}: only mode=pw (plane waves) is supported")
    for key in ("xc", "setups"):
        if key in given and not _NAME.match(given[key]):
            raise PotentialError(f"{where}: {key}={given[key]!r} is not a valid name")
        if key in given:
            values[key] = given[key]
    for key in ("ecut_eV", "conv_energy_eV", "conv_density", "conv_eigenstates_eV2", "kpts_density"):
        if key in given:
            values[key] = _positive(given[key], key, where)
    if "maxiter" in given:
        values["maxiter"] = int(_positive(given["maxiter"], "maxiter", where, integer=True))
    if "kpts" in given:
        if "kpts_density" in given:
            raise PotentialError(f"{where}: give kpts or kpts_density, not both")
        values["kpts"], values["kpts_density"] = _mesh(given["kpts"], where), None
    for key in ("gamma", "spinpol"):
        if key in given:
            values[key] = _yes_no(given[key], key, where)
    if "smearing" in given:
        values.update(_smearing(given["smearing"], where))
    return GpawSettings(**values)


def gpaw_calculator(settings: GpawSettings) -> Any:
    """A fresh GPAW calculator with `settings` (no text output)."""
    from gpaw import GPAW, PW

    # gamma=False is not "no shift" to ASE: it shifts odd meshes off Γ, so None is passed unless set
    kpts: dict[str, Any] = {"size": settings.kpts} if settings.kpts is not None else {"density": settings.kpts_density}
    if settings.gamma is not None:
        kpts["gamma"] = settings.gamma
    occupations: dict[str, Any] = {"name": settings.smearing, "width": settings.width_eV}
    if settings.order is not None:
        occupations["order"] = settings.order
    convergence = {
        "energy": settings.conv_energy_eV,
        "density": settings.conv_density,
        "eigenstates": settings.conv_eigenstates_eV2,
    }
    return GPAW(
        mode=PW(settings.ecut_eV),
        xc=settings.xc,
        kpts=kpts,
        occupations=occupations,
        convergence=convergence,
        maxiter=settings.maxiter,
        setups=settings.setups,
        spinpol=settings.spinpol,
        txt=None,
    )


def setups_dir() -> Path | None:
    """The first PAW setup directory GPAW searches that exists (gpaw.setup_paths: $GPAW_SETUP_PATH,
    then the gpaw-data package), else Debian's gpaw-data folder, else None."""
    candidates = [p for p in os.environ.get("GPAW_SETUP_PATH", "").split(os.pathsep) if p]
    try:
        from gpaw import setup_paths

        candidates += [str(p) for p in setup_paths]
    except ImportError:
        pass
    candidates.append(str(_DEBIAN_SETUPS))
    return next((Path(p) for p in candidates if Path(p).is_dir() and any(Path(p).glob("*.gz"))), None)


def setup_checksums(settings: GpawSettings, elements: Iterable[str]) -> dict[str, str]:
    """{"paw_setup <El>": "<file> sha256 <hex of the uncompressed setup>"} of the setup file GPAW
    reads for each element with these settings ("not found: ..." where it finds none)."""
    from gpaw.setup_data import search_for_file
    from gpaw.xc import XC

    setup_name = XC(settings.xc).get_setup_name()
    out = {}
    for element in sorted(set(elements)):
        stem = f"{element}.{setup_name}" if settings.setups == "paw" else f"{element}.{settings.setups}.{setup_name}"
        try:
            filename, source = search_for_file(stem)
        except RuntimeError as exc:
            out[f"paw_setup {element}"] = f"not found: {str(exc).splitlines()[0]}"
            continue
        out[f"paw_setup {element}"] = f"{filename} sha256 {hashlib.sha256(source).hexdigest()}"
    return out


@functools.cache
def _setups_digest(path: str, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    for file in sorted(Path(path).iterdir()):
        if file.is_file():
            digest.update(file.name.encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:16]


def setups_release(path: Path) -> str:
    """The setup set's release: from a ``gpaw-setups-<release>`` folder name, the gpaw-data wheel's
    version for its folder, or Debian's gpaw-data changelog for its folder; "unknown" otherwise."""
    match = re.match(r"gpaw-setups-(.+)$", path.name)
    if match:
        return match.group(1)
    if path.parent.name == "gpaw_data":
        return f"gpaw-data {package_version('gpaw-data')} (PyPI)"
    if path.resolve() == _DEBIAN_SETUPS and _DEBIAN_CHANGELOG.is_file():
        with gzip.open(_DEBIAN_CHANGELOG, "rt", errors="replace") as handle:
            first = handle.readline()
        found = re.search(r"\(([^)]+)\)", first)
        if found:
            return f"gpaw-data {found.group(1)} (Debian)"
    return "unknown"


def setups_version() -> str:
    """ "<release> sha256 <16 hex>" of the setup directory in use (its content, not its path: the same
    setups installed elsewhere are the same potential), or "no PAW setups found"."""
    path = setups_dir()
    if path is None:
        return "no PAW setups found"
    return f"{setups_release(path)} sha256 {_setups_digest(str(path), path.stat().st_mtime_ns)}"


class GpawAdapter(Adapter):
    name = "gpaw"
    summary = "GPAW plane-wave DFT (settings in the spec: ecut_eV, xc, kpts or kpts_density, smearing, conv_*)"
    example = "gpaw:ecut_eV=300;xc=PBE;kpts=15x15x15;smearing=marzari-vanderbilt:0.4"
    requires = ("gpaw",)
    extra = "gpaw"

    def describe(self, arg: str) -> PotentialInfo:
        settings = parse_gpaw_spec(arg)
        setups = setups_version()
        options = settings.options() | {"paw_setups": setups, "settings": settings.describe()}
        return PotentialInfo(
            spec=f"gpaw:{arg}" if arg else "gpaw",
            name=f"GPAW {settings.xc} PW{settings.ecut_eV:g}",
            family=self.name,
            version=f"gpaw {package_version('gpaw')}; setups {setups}",
            elements=None,
            citation=_CITATION,
            license="GPL-3.0 (GPAW)",
            reference_method=f"DFT ({settings.xc}), GPAW {settings.describe()}",
            options=options,
        )

    def input_checksums(self, arg: str, elements: Iterable[str]) -> dict[str, str]:
        """Checksums of the files a calculation on `elements` reads (the PAW setups), for provenance."""
        return setup_checksums(parse_gpaw_spec(arg), elements)

    def make_calculator(self, arg: str) -> Any:
        settings = parse_gpaw_spec(arg)
        if setups_dir() is None:
            raise PotentialError(
                f"gpaw:{arg}: no PAW setups found (install Debian's gpaw-data, or `gpaw install-data DIR` "
                "and set GPAW_SETUP_PATH)"
            )
        return gpaw_calculator(settings)
