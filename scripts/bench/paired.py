"""Paired ratios of side-by-side benchmark runs: geometric mean and 95% confidence interval.

A benchmark that runs two configurations back to back R times gets R paired ratios; their
interval says whether the difference stands out from the machine's run-to-run noise (an interval
containing 1.00: not told apart). Used by ddp_summary.py and allreduce.sh.
"""
import math
import statistics

# Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom.
T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
       2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
       2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def ratio_stats(values):
    """Geometric mean and 95% interval of positive ratios (interval None for one value)."""
    logs = [math.log(v) for v in values]
    mean = statistics.fmean(logs)
    out = {"geomean": math.exp(mean), "ci95": None, "per_repeat": values}
    if len(logs) > 1:
        t = T95[len(logs) - 2] if len(logs) - 1 <= len(T95) else 1.96
        half = t * statistics.stdev(logs) / math.sqrt(len(logs))
        out["ci95"] = [math.exp(mean - half), math.exp(mean + half)]
    return out


def ci_text(s):
    return f"[{s['ci95'][0]:.2f}, {s['ci95'][1]:.2f}]" if s["ci95"] else "-"
