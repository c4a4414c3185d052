"""Coverage, error rates and power of the statistics, over the grid where these studies live.

    .venv/bin/python analysis/stats_coverage.py [--sets 2000]

Latent-probit clustered binary data (ICC 0 / 0.3 / 0.7; 20 and 30 clusters of 5 items; rates
from 0.02 to 0.95), two models sharing cluster and item latents for paired differences, and
normal, t3, exponential and lognormal continuous data (10, 20 and 30 clusters). Each cell is
`--sets` simulated data sets; the Monte Carlo SE of a coverage near 0.95 is about
sqrt(0.95 * 0.05 / sets) (0.005 at 2,000). The fast versions of these checks are the tests in
tests/stats; this is the whole grid. Writes analysis/stats_coverage.md. Deterministic (seeded).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prosaic_evals.stats import BinaryDesign, binary_mde, compare_paired  # noqa: E402
from prosaic_evals.stats._betabinomial import intervals  # noqa: E402
from prosaic_evals.stats._skewt import SkewT  # noqa: E402
from tests.stats._generators import binary, continuous  # noqa: E402
from tests.stats.test_paired_binary import mover_sets, paired_sets  # noqa: E402

OUT = Path(__file__).with_name("stats_coverage.md")


def proportions(sets: int) -> list[str]:
    lines = ["| p | ICC | clusters | coverage | below | above |", "|---|---|---|---|---|---|"]
    for p in (0.02, 0.05, 0.2, 0.5, 0.8, 0.95):
        for icc in (0.0, 0.3, 0.7):
            for g in (20, 30):
                data = binary(np.random.default_rng(1), p, icc, g, 5, sets).sum(axis=2)
                low, high = intervals(data, np.full(g, 5))
                lines.append(f"| {p} | {icc} | {g} | {np.mean((low <= p) & (p <= high)):.3f} | "
                             f"{np.mean(high < p):.3f} | {np.mean(low > p):.3f} |")  # fmt: skip
    return lines


def paired(sets: int) -> list[str]:
    lines = ["| p baseline | p model | ICC | item corr. | clusters | coverage | rejects 0 |", "|---|---|---|---|---|---|---|"]
    cells = [(0.5, 0.5), (0.2, 0.2), (0.05, 0.05), (0.02, 0.02), (0.95, 0.95), (0.2, 0.3), (0.9, 0.7), (0.2, 0.5)]
    for p0, p1 in cells:
        for icc in (0.0, 0.3, 0.7):
            for g in (20, 30):
                corr = icc + 0.5 * (1 - icc)
                kx, ky = paired_sets(np.random.default_rng(2), p0, p1, icc, corr, g, sets)
                low, high = mover_sets(kx, ky)
                d = p1 - p0
                lines.append(f"| {p0} | {p1} | {icc} | {corr:.2f} | {g} | {np.mean((low <= d) & (d <= high)):.3f} | "
                             f"{np.mean((low > 0) | (high < 0)):.3f} |")  # fmt: skip
    return lines


def means(sets: int) -> list[str]:
    lines = ["| data | ICC | clusters | coverage (Hall t) | coverage (plain t) | paired p <= 0.05 at mean 0 |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    from scipy import stats as st

    for kind in ("normal", "t3", "exponential", "lognormal"):
        for icc in (0.0, 0.3, 0.7):
            for g in (10, 20, 30):
                rng = np.random.default_rng(3)
                hall = plain = rejected = 0
                for _ in range(sets):
                    values = continuous(rng, kind, icc, g, 5).reshape(g, 5)
                    test = SkewT(values.sum(axis=1), np.full(g, 5.0))
                    low, high = test.interval(0.05)
                    hall += low <= 0 <= high
                    rejected += test.p_value(0.0) <= 0.05
                    cm = values.mean(axis=1)
                    half = st.t.ppf(0.975, g - 1) * cm.std(ddof=1) / np.sqrt(g)
                    plain += abs(cm.mean()) <= half
                lines.append(f"| {kind} | {icc} | {g} | {hall / sets:.3f} | {plain / sets:.3f} | {rejected / sets:.3f} |")
    return lines


def power(sets: int) -> list[str]:
    lines = ["| design (baseline, ICC, item corr., clusters x 5) | MDE | power of the full-grid test at the MDE |",
             "|---|---|---|"]  # fmt: skip
    designs = [(0.3, 0.3, 0.6, 20), (0.05, 0.3, 0.5, 30), (0.5, 0.0, 0.5, 20), (0.1, 0.7, 0.8, 30), (0.8, 0.3, 0.5, 20)]
    for p0, icc, corr, g in designs:
        design = BinaryDesign(p0, icc, corr, (5,) * g)
        effect = binary_mde(design)
        sign = 1 if p0 <= 0.5 else -1
        kx, ky = paired_sets(np.random.default_rng(4), p0, p0 + sign * effect, icc, corr, g, max(sets, 4000))
        low, high = mover_sets(kx, ky)
        lines.append(f"| {p0}, {icc}, {corr}, {g} | {effect:.3f} | {np.mean((low > 0) | (high < 0)):.3f} |")
    return lines


def edge_cases() -> list[str]:
    zero = compare_paired(np.zeros(100), np.zeros(100), np.repeat(np.arange(20), 5), margin=0.1)
    return [f"- two models with no success on 100 items in 20 clusters: difference 0 "
            f"[{zero.ci_low:.3f}, {zero.ci_high:.3f}], p {zero.p_value:.3f}, TOST p at margin 0.1 "
            f"{zero.p_equivalence:.3f} ({zero.verdict})"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", type=int, default=2000)
    sets = parser.parse_args().sets
    started = time.time()
    sections = [
        ("Single proportions: beta-binomial profile likelihood, F(1, G - 1)", proportions(sets)),
        ("Paired binary differences: MOVER on the two profile intervals", paired(sets)),
        ("Means: Hall's skewness-corrected t on cluster means (and the plain t for reference)", means(sets)),
        ("Power: the simulated MDE against a fresh simulation of the real test", power(sets)),
        ("Edge cases", edge_cases()),
    ]
    body = [f"# Statistics: coverage and power by simulation\n\n{sets:,} data sets per cell; `python "
            f"analysis/stats_coverage.py --sets {sets}` on {platform.machine()} with {platform.python_version()}, "
            f"{time.time() - started:.0f} s. Targets: coverage 0.94 to 0.97; 'rejects 0' is the false-positive "
            "rate where both rates are equal; power 0.78 to 0.82 at the MDE.\n"]  # fmt: skip
    for title, lines in sections:
        body += [f"## {title}\n", *lines, ""]
    OUT.write_text("\n".join(body))
    print(f"wrote {OUT} in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
