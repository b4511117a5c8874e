"""The crossing and error bar of tests/crosscheck/calphy_tm.py on made-up calphy output (no calphy,
no MD): linear G(T) of solid and liquid with a known crossing and known standard errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from calphy_tm import crossing

T0, T1 = 800.0, 1000.0
KB = 8.617333e-5


def _phase(root: Path, phase: str, g: np.ndarray, t: np.ndarray, sweep_err: float, f0_err: float) -> None:
    folder = root / f"ts-fcc-{phase}-{int(T0)}-0"
    folder.mkdir()
    err = sweep_err * (t - T0) / (T1 - T0)  # zero at T0, where the sweeps start (as calphy's)
    np.savetxt(folder / "temperature_sweep.dat", np.column_stack((t[::-1], g[::-1], err[::-1])), header="T G err")
    results = {"error": f0_err, "dissipation": 1e-3, "ts_dissipation": 2e-4}
    (folder / "report.yaml").write_text(yaml.safe_dump({"results": results, "average": {"vol_atom": 17.0}}))


def _fake_run(root: Path, *, tm: float, dsm: float, f0_err: float, sweep_err: float) -> Path:
    t = np.linspace(T0, T1, 2001)
    solid = -3.6 - 1.5e-3 * (t - T0)
    _phase(root, "solid", solid, t, sweep_err, f0_err)
    _phase(root, "liquid", solid + dsm * (tm - t), t, sweep_err, f0_err)
    log = root / "melting_temperature-fcc--900-0.log"
    log.write_text(f"x INFO STATE: Temperature range of {T0:f}-{T1:f} K\nx INFO STATE: Tm = {tm:.2f} K +/- 0.10 K\n")
    return log


def test_crossing_and_error(tmp_path: Path) -> None:
    dsm, f0_err, sweep_err, tm = 1.2e-4, 1e-3, 5e-4, 912.3
    row = crossing(tmp_path, _fake_run(tmp_path, tm=tm, dsm=dsm, f0_err=f0_err, sweep_err=sweep_err))
    w = sweep_err * (tm - T0) / (T1 - T0)
    expected = np.sqrt(2 * (f0_err * tm / T0) ** 2 + 2 * w**2) / dsm
    assert row["tm_K"] == pytest.approx(tm, abs=0.1)
    assert row["sigma_K"] == pytest.approx(expected, abs=0.1)
    assert row["entropy_of_melting_kB"] == pytest.approx(dsm / KB, rel=1e-3)
    assert row["calphy_reported_K"] == [tm, 0.1]


def test_no_crossing_is_an_error(tmp_path: Path) -> None:
    log = _fake_run(tmp_path, tm=1100.0, dsm=1.2e-4, f0_err=1e-3, sweep_err=0.0)
    with pytest.raises(SystemExit, match="crosses zero 0 times"):
        crossing(tmp_path, log)
