"""Summarises a scripts/bench/ddp_vs_pytorch.sh run directory: a table on stdout, OUT/summary.json.

Usage: /usr/bin/python3 scripts/bench/ddp_summary.py OUT MODELS REPEATS BOUND RESNET50_STEPS
(the script calls it; run it again by hand to re-read an existing OUT).

Each repeat runs every configuration once, back to back, so the ratios are paired per repeat:
besides the medians, each ratio gets the geometric mean of its per-repeat values and a 95%
confidence interval (Student's t on the logs). An interval that contains 1.00 means the two
configurations are not told apart by these runs; the machine's run-to-run noise is several
percent.
"""
import json
import statistics
import sys

from paired import ci_text, ratio_stats


USAGE = "usage: ddp_summary.py OUT MODELS REPEATS BOUND(0|1) RESNET50_STEPS"


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as e:
        sys.exit(f"ddp_summary.py: cannot read {path}: {e.strerror} (was the run complete?)")
    except ValueError as e:
        sys.exit(f"ddp_summary.py: {path} is not JSON: {e} (was the run complete?)")


def main():
    if len(sys.argv) != 6 or not (sys.argv[3].isdigit() and sys.argv[5].isdigit()):
        sys.exit(USAGE)
    out, models, repeats = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3])
    bound, r50 = sys.argv[4] == "1", int(sys.argv[5])
    med = statistics.median
    rows = {}
    ratios = [("ratio_pytorch_over_tdml", "pytorch_ddp_s", "tdml_ddp_s", "PT/tdml"),
              ("ratio_single_over_ddp", "tdml_single_s", "tdml_ddp_s", "1p/ddp")]
    if bound:
        ratios.append(("ratio_indep_over_ddp", "tdml_indep_s", "tdml_ddp_s", "indep/ddp"))
    print(f"{'model':15}{'tdml ddp s':>12}{'PyTorch s':>12}{'PT/tdml':>9}{'tdml 1p s':>11}"
          f"{'1p/ddp':>8}" + (f"{'indep s':>9}{'indep/ddp':>10}" if bound else "")
          + (f"   (medians of {repeats} interleaved runs)" if repeats > 1 else ""))
    for m in models:
        runs = []
        for k in range(1, repeats + 1):
            st = load(f"{out}/tdml-ddp-{m}-{k}/metrics.json")["epochs"][0]["strategy"]
            p = load(f"{out}/pytorch-ddp-{m}-{k}.json")
            s = load(f"{out}/tdml-single-{m}-{k}/metrics.json")["epochs"][0]
            runs.append({"tdml_ddp_s": st["epoch_time_s_max"],
                         "tdml_ddp_per_rank_s": st["epoch_time_s_per_rank"],
                         "tdml_ddp_samples_per_s": st["global_samples_per_s"],
                         "tdml_ddp_comm_wait_s_per_step": st["comm_wait_s_per_step"],
                         "tdml_ddp_comm_s_per_step": st["comm_s_per_step"],
                         "pytorch_ddp_s": p["epoch_s"], "pytorch_ddp_per_rank_s": p["per_rank_s"],
                         "tdml_single_s": s["epoch_time_s"]})
            if bound:  # the slower of the two independent processes
                runs[-1]["tdml_indep_s"] = max(
                    load(f"{out}/tdml-indep{h}-{m}-{k}/metrics.json")["epochs"][0]["epoch_time_s"]
                    for h in (0, 1))
        keys = ["tdml_ddp_s", "pytorch_ddp_s", "tdml_single_s", "tdml_ddp_comm_wait_s_per_step",
                "tdml_ddp_comm_s_per_step"] + (["tdml_indep_s"] if bound else [])
        r = {k: med(x[k] for x in runs) for k in keys}
        for name, num, den, _ in ratios:
            r[name] = r[num] / r[den]  # ratio of the medians
            r[name + "_paired"] = ratio_stats([x[num] / x[den] for x in runs])
        r["runs"] = runs
        rows[m] = r
        tail = lambda x: (f"{x['tdml_indep_s']:9.2f}{x['tdml_indep_s'] / x['tdml_ddp_s']:10.2f}"
                          if bound else "")
        print(f"{m:15}{r['tdml_ddp_s']:12.2f}{r['pytorch_ddp_s']:12.2f}"
              f"{r['ratio_pytorch_over_tdml']:9.2f}{r['tdml_single_s']:11.2f}"
              f"{r['ratio_single_over_ddp']:8.2f}" + tail(r))
        if repeats > 1:
            for k, x in enumerate(runs, 1):
                print(f"  run {k:<10}{x['tdml_ddp_s']:12.2f}{x['pytorch_ddp_s']:12.2f}"
                      f"{x['pytorch_ddp_s'] / x['tdml_ddp_s']:9.2f}{x['tdml_single_s']:11.2f}"
                      f"{x['tdml_single_s'] / x['tdml_ddp_s']:8.2f}" + tail(x))
            print("  paired per repeat: " + "; ".join(
                f"{label} {r[name + '_paired']['geomean']:.3f} (95% CI "
                f"{ci_text(r[name + '_paired'])})" for name, _, _, label in ratios))
    summary = {"repeats": repeats, "models": rows}
    if r50:
        st = load(f"{out}/tdml-ddp-resnet50/metrics.json")["epochs"][0]["strategy"]
        summary["resnet50"] = {k: st[k] for k in (
            "comm_s_per_step", "comm_wait_s_per_step", "exposed_comm_fraction",
            "bytes_allreduced_per_step", "buckets", "buckets_overlapped_per_step")}
        x = summary["resnet50"]
        print(f"resnet50: all-reduce {x['comm_s_per_step']*1e3:.0f} ms/step, exposed "
              f"{x['comm_wait_s_per_step']*1e3:.0f} ms/step = {100*x['exposed_comm_fraction']:.0f}% "
              f"of it ({x['bytes_allreduced_per_step']/2**20:.1f} MiB, {x['buckets']} buckets)")
    json.dump(summary, open(f"{out}/summary.json", "w"), indent=2)


if __name__ == "__main__":
    main()
