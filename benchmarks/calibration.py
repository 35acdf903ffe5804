"""Calibration of the report's intervals and claim verdicts on simulated studies with known truth.

Usage: .venv/bin/python benchmarks/calibration.py [--reps 4000]
Each study is 12 tasks x 11 optimizers, test scores ~ N(70, 2) per seed (tests/calibration_sim.py);
the claims family is "optimizer 0 beats optimizer j on task t" (120 claims), tested as the report
tests them. Prints, per number of seeds: the coverage of the 95% t interval of a cell mean, the
false-verdict rate with identical optimizers (per claim and per study), and the power when
optimizer 0 is 3 SD better, for paired t (seeds pair) and Welch t (they do not), under
Benjamini-Hochberg (the report's verdicts), Holm and no adjustment; the false discovery rate when
half of the baselines equal optimizer 0 and half are 3 SD worse; and, for contrast, the previous
report's percentile-bootstrap rules. Then `--seeds auto` (reports/sequential.py): per preset
min/max, family size and gap, the false-verdict rate, power, coverage of the interval at the look
where a claim stopped and the mean seeds per claim, beside a fixed design of max seeds. Writes
benchmarks/results/calibration.md.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import numpy as np  # noqa: E402
from calibration_sim import bounded_coverage, simulate, simulate_sequential  # noqa: E402

# (min, max) seeds of the presets' `seeds: auto` and family sizes: 2 claims (mnist-claims' per
# setting), 120 (a 12 x 11 study, as above)
SEQUENTIAL = [((2, 10), 2), ((2, 10), 120), ((2, 5), 2), ((2, 5), 120)]


def sequential_table(reps: int) -> str:
    """`--seeds auto` beside the fixed design of its maximum, gaps 0 / 1 / 3 SD (per-run SD)."""
    lines = ["| min-max | claims | gap (SD) | false verdicts per claim | studies with any | power | coverage at the stop "
             "| mean seeds per claim | share at max | fixed: verdicts / power | fixed: coverage |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for (lo, hi), claims in SEQUENTIAL:
        tasks, opts, n = (12, 11, max(reps // 8, 100)) if claims == 120 else (1, 3, reps * 5)
        for gap in (0.0, 1.0, 3.0):
            r = simulate_sequential(lo, hi, n, gap, tasks, opts, seed=int(1000 * gap) + hi + claims)
            false = f"{r['decided']:.4f}" if gap == 0 else f"{r['wrong_sign']:.4f}"
            family = f"{r['family']:.3f}" if gap == 0 else "-"
            power = "-" if gap == 0 else f"{r['decided']:.3f}"
            lines.append(f"| {lo}-{hi} | {claims} | {gap:g} | {false} | {family} | {power} | {r['coverage']:.3f} | "
                         f"{r['mean_seeds']:.2f} | {r['max_share']:.3f} | {r['fixed_decided']:.4f} | {r['fixed_coverage']:.3f} |")
    return "\n".join(lines)


def percentile_bootstrap_before(seeds: int, reps: int = 40, resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
    """The previous report's rules, for contrast: (coverage of the percentile-bootstrap CI of a cell
    mean, share of "P beats B" claims between identical optimizers given holds/does not hold by the
    independent-resampling bootstrap CI of the difference), same simulated studies, no adjustment."""
    rng = np.random.default_rng(seed)
    x = rng.normal(70.0, 2.0, (reps, 12, 11, seeds))
    boot = np.take_along_axis(x[..., None, :], rng.integers(0, seeds, x.shape[:-1] + (resamples, seeds)), -1).mean(-1)
    low, high = np.quantile(boot, [0.025, 0.975], axis=-1)
    coverage = float(np.mean((low <= 70.0) & (70.0 <= high)))
    diff = boot[:, :, :1, :] - boot[:, :, 1:, :]
    low, high = np.quantile(diff, [0.025, 0.975], axis=-1)
    return coverage, float(np.mean((low > 0) | (high < 0)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=4000, help="simulated studies per row")
    args = ap.parse_args()
    start = time.perf_counter()
    lines = ["| seeds | test | coverage (95% t CI) | false verdicts per claim, BH | studies with any false verdict, BH "
             "| per claim, Holm | per claim, unadjusted | power at 3 SD, BH | power, Holm | power, unadjusted "
             "| FDR, half the gaps 0, BH | power there, BH |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for seeds in (2, 3, 5, 10):
        for paired in (True, False):
            null = simulate(seeds, args.reps, 0.0, paired=paired, seed=seeds)
            alt = simulate(seeds, args.reps, 3.0, paired=paired, seed=100 + seeds)
            mix = simulate(seeds, args.reps, 3.0, paired=paired, seed=200 + seeds, null_share=0.5)
            lines.append(f"| {seeds} | {'paired t' if paired else 'Welch t'} | {null['coverage']:.3f} | {null['bh_decided']:.4f} | "
                         f"{null['bh_family']:.3f} | {null['holm_decided']:.4f} | {null['raw_decided']:.4f} | "
                         f"{alt['bh_decided']:.3f} | {alt['holm_decided']:.3f} | {alt['raw_decided']:.3f} | "
                         f"{mix['bh_fdr']:.3f} | {mix['bh_power']:.3f} |")
    before = ["| seeds | coverage, percentile bootstrap | false verdicts per claim, bootstrap CI of the difference |",
              "|---|---|---|"]
    for seeds in (3, 5):
        cov, false = percentile_bootstrap_before(seeds)
        before.append(f"| {seeds} | {cov:.3f} | {false:.3f} |")
    bounded = ["| seeds | scores (points) | coverage, t cut to 0-100 | plain t intervals past 100 |", "|---|---|---|---|"]
    for seeds in (2, 3, 5):
        for mean, sd in ((98.0, 1.0), (99.0, 0.5), (97.0, 1.0)):
            b = bounded_coverage(seeds, args.reps * 50, mean, sd, seed=300 + seeds)
            bounded.append(f"| {seeds} | 100 x Beta, mean {mean:g}, SD {sd:g} | {b['coverage']:.3f} | {b['past_100']:.3f} |")
    lines += ["", "Bounded scores near the ceiling (skewed; the report cuts each cell's interval to the score's range, "
              f"Mandelkern 2002; {args.reps * 50} cells per row):", ""] + bounded
    table = "\n".join(lines) + "\n\nThe previous rules on the same studies (40 studies, 1000 resamples):\n\n" + "\n".join(before)
    table += ("\n\n## `--seeds auto`: seeds in rounds until a claim is decided (reports/sequential.py)\n\n"
              "Claims \"0 beats j\" with seeds pairing, looked at after each round (2, 3, 5, 8, 10 seeds for 2-10; "
              "2, 3, 5 for 2-5), decided as the driver decides (repeated p-values of an O'Brien-Fleming-type "
              "design under Benjamini-Hochberg); gap in per-run SDs (the SD of a difference is 1.41 of them). "
              "With a gap, \"false verdicts\" counts verdicts of the wrong sign. Coverage: the repeated confidence "
              "interval of the difference at the look where the claim stopped (or at max). 2 claims: "
              f"{args.reps * 5} studies per row; 120 claims: {max(args.reps // 8, 100)}.\n\n" + sequential_table(args.reps))
    print(table)
    took = time.perf_counter() - start
    print(f"{args.reps} studies per row, {took:.1f} s")
    out = Path(__file__).parent / "results" / "calibration.md"
    out.write_text("# Calibration of intervals and verdicts (benchmarks/calibration.py)\n\n"
                   f"`python benchmarks/calibration.py --reps {args.reps}`: 12 tasks x 11 optimizers, N(70, 2) per seed, "
                   "120 claims per study (optimizer 0 vs each other, per task). Targets: coverage 0.93-0.97; false verdicts "
                   "<= 5%; power at a 3 SD gap with 5 seeds most of the time.\n\n" + table
                   + f"\n\n{args.reps} simulated studies per row; {took:.1f} s on a shared 2-core machine.\n")


if __name__ == "__main__":
    main()
