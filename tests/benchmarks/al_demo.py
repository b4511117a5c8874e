"""Measure: active learning (γ selection) against random selection, Mendelev's Al EAM as the oracle.

Not collected by pytest (minutes per seed on one core). Run from the repository root::

    OMP_NUM_THREADS=1 .venv/bin/python tests/benchmarks/al_demo.py [--seeds 0 1 2] [--results DIR] [--out DIR]

Runs ``tasks/training/al-eam-active-learning.yaml`` once per seed (the config's ``seed``: initial
cells, start cells, temperatures, random picks; the held-out set has its own fixed seed), through
the same :func:`mlip_bench.training.pipeline.train` as ``mlip-bench train``, so reruns reuse every
finished iteration. Prints each seed's curves and comparison, then the seeds' geometric-mean curves
(each seed's curve interpolated in log error at every 4 calls, within the calls all seeds reached)
and how many calls random selection needs for each error active learning reaches (interpolated, as
``learning_curve.compare``). Writes ``<out>/curves.json``, ``curves.png`` (per seed thin, mean thick)
and ``curves.html``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import yaml

from mlip_bench.training.learning_curve import METRICS, CurvePoint, LearningCurve, compare, table, write_figure
from mlip_bench.training.pipeline import _comparison_text, train

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "tasks" / "training" / "al-eam-active-learning.yaml"
OUT = ROOT / "reference_data" / "trained" / "al-eam-active-learning"


def seeded_config(seed: int, folder: Path) -> Path:
    """The shipped config with its seed set to `seed`, written into `folder`."""
    raw = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    raw["seed"] = seed
    path = folder / f"al-eam-active-learning-seed{seed}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def on_grid(curve: LearningCurve, grid: list[int], metric: str) -> list[float]:
    """`curve`'s error at each of `grid`'s calls: linear in calls and log error between points (a
    repeated call count keeps its last point); NaN outside the curve's calls."""
    last: dict[int, float] = {}
    for point in curve.points:
        last[point.oracle_calls] = math.log(curve.error(point, metric))
    calls = np.array(sorted(last), dtype=float)
    logs = np.array([last[int(c)] for c in calls])
    return [float(np.exp(np.interp(g, calls, logs))) if calls[0] <= g <= calls[-1] else math.nan for g in grid]


def mean_curve(strategy: str, curves: list[LearningCurve], grid: list[int]) -> LearningCurve:
    """Geometric mean over seeds of each metric on `grid`."""
    columns = {m: np.exp(np.mean(np.log([on_grid(c, grid, m) for c in curves]), axis=0)) for m in METRICS}
    points = tuple(
        CurvePoint(
            g, float(columns["energy"][i]), float(columns["forces"][i]), math.nan, float(columns["energy_max"][i])
        )
        for i, g in enumerate(grid)
    )
    return LearningCurve(f"{strategy} (mean)", points)


def plot_png(per_seed: dict[int, tuple[LearningCurve, ...]], means: tuple[LearningCurve, ...], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = {
        "energy": "energy RMSE (meV/atom)",
        "forces": "force RMSE (eV/Å)",
        "energy_max": "largest |ΔE| (meV/atom)",
    }
    colours = {"gamma": "tab:blue", "random": "tab:orange"}
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    for ax, metric in zip(axes, METRICS, strict=True):
        for curves in per_seed.values():
            for curve in curves:
                xs = [p.oracle_calls for p in curve.points]
                ax.plot(
                    xs, [curve.error(p, metric) for p in curve.points], color=colours[curve.strategy], alpha=0.3, lw=1
                )
        for curve in means:
            strategy = curve.strategy.split()[0]
            xs = [p.oracle_calls for p in curve.points]
            ax.plot(xs, [curve.error(p, metric) for p in curve.points], "o-", color=colours[strategy], lw=2.5,
                    label=f"{strategy} (geometric mean of {len(per_seed)} seeds)")  # fmt: skip
        ax.set_yscale("log")
        ax.set_xlabel("oracle calls (training labels)")
        ax.set_title(f"held-out {titles[metric]}")
    axes[0].legend(fontsize=8)
    fig.suptitle("Al level-8 MTP, Mendelev EAM oracle: γ selection vs random selection")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    per_seed: dict[int, tuple[LearningCurve, ...]] = {}
    seconds: dict[int, float] = {}
    for seed in args.seeds:
        result = train(seeded_config(seed, args.out), results=args.results, say=lambda _: None)
        per_seed[seed] = result.curves
        logs = [s.log for states in result.states.values() for s in states[1:]]
        seconds[seed] = sum(log.sample_seconds + log.oracle_seconds + log.fit_seconds for log in logs)
        print(f"\n=== seed {seed} ({result.folder}; sampling + oracle + fits {seconds[seed]:.0f} s)")
        print(table(result.curves))
        for comparison in result.comparisons:
            print(_comparison_text(comparison, "gamma", "random"))
    top = min(p.oracle_calls for curves in per_seed.values() for c in curves for p in c.points[-1:])
    grid = list(range(4, top + 1, 4))
    means = tuple(mean_curve(s, [dict((c.strategy, c) for c in cs)[s] for cs in per_seed.values()], grid)
                  for s in ("gamma", "random"))  # fmt: skip
    print(f"\n=== geometric mean over seeds {args.seeds}")
    print(table(means))
    comparisons = [compare(means[0], means[1], metric=m) for m in METRICS]
    for comparison in comparisons:
        print(_comparison_text(comparison, "gamma", "random"))
    document = {
        "config": str(CONFIG.relative_to(ROOT)),
        "seeds": args.seeds,
        "seconds_per_seed": seconds,
        "per_seed": {s: [[p.__dict__ for p in c.points] for c in cs] for s, cs in per_seed.items()},
        "mean": {c.strategy: [p.__dict__ for p in c.points] for c in means},
        "comparisons": [
            {"metric": c.metric, "rows": c.rows, "ratios": c.ratios(), "reaches_2x": c.reaches_factor(2.0)}
            for c in comparisons
        ],
    }
    (args.out / "curves.json").write_text(json.dumps(document, indent=1, default=str), encoding="utf-8")
    plot_png(per_seed, means, args.out / "curves.png")
    write_figure(list(means), args.out / "curves.html", title="γ selection vs random (geometric mean over seeds)")
    print(f"\nwrote {args.out / 'curves.json'}, {args.out / 'curves.png'}, {args.out / 'curves.html'}")


if __name__ == "__main__":
    main()
