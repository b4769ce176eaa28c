#!/usr/bin/env python3
"""Draws a tdml run's metrics.json as PNG figures and an index.html.

    scripts/plot.py RUN_DIR [--out DIR]              # one run: DIR defaults to RUN_DIR/plots
    scripts/plot.py --summary DIR1 DIR2 ... [--out DIR]   # compare runs (default ./summary)

RUN_DIR holds metrics.json (or fl_metrics.json, or a `tdml fl grid`'s grid.json), or is the
metrics file itself. The kind of run is the document's "kind" field ("fl" documents written
before it had one carry "command": "fl"). Each kind has one function in PLOTTERS that returns
[(png, caption)]; adding a kind is adding a function and a table entry. Needs matplotlib and numpy (Debian:
python3-matplotlib).
"""
import argparse
import html
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck"]
MIB = 1048576.0
DPI = 110


class PlotError(Exception):
    """A problem with the input the user can act on (one line)."""


# ----------------------------------------------------------------------------- helpers

def load_metrics(path):
    """Returns (document, run directory) for a run directory or a metrics file."""
    if not os.path.exists(path):
        raise PlotError(f"{path}: no such run directory or metrics file")
    if os.path.isdir(path):
        for name in ("metrics.json", "fl_metrics.json", "grid.json"):
            f = os.path.join(path, name)
            if os.path.isfile(f):
                path = f
                break
        else:
            raise PlotError(f"{path}: no metrics.json (or grid.json) in this directory")
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise PlotError(f"{path}: cannot read metrics: {e}")
    return doc, os.path.dirname(os.path.abspath(path))


def kind_of(doc):
    if doc.get("kind"):
        return doc["kind"]
    if doc.get("command") == "fl":
        return "fl"
    return None


def save(fig, out, name):
    fig.tight_layout()
    fig.savefig(os.path.join(out, name), dpi=DPI)
    plt.close(fig)
    return name


def bytes_label(b, _pos=None):
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if b >= div:
            v = b / div
            return f"{v:.0f} {unit}" if v == int(v) else f"{v:.1f} {unit}"
    return f"{b:.0f} B"


def bar_labels(ax, bars, fmt="{:.0f}"):
    """Writes each bar's value above it, with headroom so labels stay inside the axes."""
    tops = [b.get_height() for b in bars if np.isfinite(b.get_height())]
    if tops:
        ax.set_ylim(top=max(ax.get_ylim()[1], 1.15 * max(tops)))
    for b in bars:
        h = b.get_height()
        if np.isfinite(h):
            ax.annotate(fmt.format(h), (b.get_x() + b.get_width() / 2, h),
                        ha="center", va="bottom", fontsize=8,
                        xytext=(0, 2), textcoords="offset points")


def text_color(im, value):
    """Black or white, whichever reads better on the image's colour at value."""
    r, g, b, _ = im.cmap(im.norm(value))
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


def heatmap(ax, values, rows, cols, title, unit, fmt, cmap="viridis",
            xlabel="loader workers (threads; 0 = in the training thread)",
            ylabel="batch size (images)", vmin=None, vmax=None):
    v = np.array(values, dtype=float)
    im = ax.imshow(v, cmap=cmap, aspect="auto", vmin=vmin, vmax=vmax)
    ax.set_xticks(range(len(cols)), [str(c) for c in cols])
    ax.set_yticks(range(len(rows)), [str(r) for r in rows])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    cb = ax.figure.colorbar(im, ax=ax)
    cb.set_label(unit)
    for i in range(v.shape[0]):
        for j in range(v.shape[1]):
            if np.isfinite(v[i, j]):
                ax.text(j, i, fmt.format(v[i, j]), ha="center", va="center", fontsize=9,
                        color=text_color(im, v[i, j]))


def read_samples(path, n):
    """CIFAR-10 binary records: 1 label byte + 3072 bytes (R, G, B planes of 32x32)."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size < n * 3073:
        raise PlotError(f"{path}: {raw.size} bytes, expected {n} CIFAR records of 3073 bytes")
    rec = raw[: n * 3073].reshape(n, 3073)
    return rec[:, 0], rec[:, 1:].reshape(n, 3, 32, 32).transpose(0, 2, 3, 1)


def class_name(i):
    return CLASSES[i] if 0 <= i < len(CLASSES) else str(i)


# ----------------------------------------------------------------------------- train

def plot_train(doc, run_dir, out):
    figs = []
    eps = doc.get("epochs", [])
    x = [e["epoch"] for e in eps]
    mode = doc.get("run", {}).get("mode", "single")
    model = doc.get("model", {}).get("name", doc.get("config", {}).get("model", "?"))
    tag = f"{model}, {mode}"
    if eps:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(x, [e["train_loss"] for e in eps], "o-", label="train")
        ax.plot(x, [e["test_loss"] for e in eps], "s-", label="test")
        ax.set_xlabel("epoch")
        ax.set_ylabel("cross-entropy loss")
        ax.set_title(f"Loss per epoch ({tag})")
        ax.set_xticks(x)
        ax.legend()
        ax.grid(alpha=0.3)
        figs.append((save(fig, out, "loss.png"), "Train and test loss per epoch"))

        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(x, [100 * e["train_acc"] for e in eps], "o-", label="train")
        ax.plot(x, [100 * e["test_acc"] for e in eps], "s-", label="test")
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy (%)")
        ax.set_title(f"Accuracy per epoch ({tag})")
        ax.set_xticks(x)
        ax.legend()
        ax.grid(alpha=0.3)
        figs.append((save(fig, out, "accuracy.png"), "Train and test accuracy per epoch"))

        fig, ax = plt.subplots(figsize=(6, 4))
        wait = np.array([e.get("data_wait_s", 0.0) for e in eps])
        comp = np.array([e.get("compute_s", e["epoch_time_s"]) for e in eps])
        ax.bar(x, comp, label="compute (forward, backward, step)")
        ax.bar(x, wait, bottom=comp, label="waiting for data")
        ax2 = ax.twinx()
        ax2.plot(x, [e["samples_per_s"] for e in eps], "k^--", label="throughput")
        ax2.set_ylabel("throughput (images/s)")
        ax2.set_ylim(0, 1.2 * max(e["samples_per_s"] for e in eps))
        ax.set_xlabel("epoch")
        ax.set_ylabel("training time (s)")
        ax.set_xticks(x)
        ax.set_title(f"Epoch time and throughput ({tag})")
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, loc="lower right", fontsize=8)
        figs.append((save(fig, out, "epoch_time.png"),
                     "Training time per epoch split into compute and data wait, and images/s"))

    cm = doc.get("final", {}).get("confusion_matrix")
    if cm:
        m = np.array(cm, dtype=float)
        k = m.shape[0]
        names = [class_name(i) for i in range(k)]
        fig, ax = plt.subplots(figsize=(7, 6))
        im = ax.imshow(m, cmap="Blues")
        ax.set_xticks(range(k), names, rotation=45, ha="right")
        ax.set_yticks(range(k), names)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        acc = doc["final"].get("accuracy")
        ax.set_title("Confusion matrix on the test set" +
                     (f" (accuracy {100 * acc:.1f}%)" if acc is not None else ""))
        fig.colorbar(im, ax=ax).set_label("test images")
        for i in range(k):
            for j in range(k):
                ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center", fontsize=7,
                        color=text_color(im, m[i, j]))
        figs.append((save(fig, out, "confusion_matrix.png"),
                     "Confusion matrix (rows: true class, columns: predicted)"))

    s = doc.get("samples")
    if s and os.path.isfile(os.path.join(run_dir, s.get("file", "samples.bin"))):
        labels, preds = s["labels"], s["predictions"]
        n = len(labels)
        _, images = read_samples(os.path.join(run_dir, s.get("file", "samples.bin")), n)
        cols = 4
        rows = math.ceil(n / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(cols * 2.0, rows * 2.3))
        for i, ax in enumerate(np.atleast_1d(axes).flat):
            ax.axis("off")
            if i >= n:
                continue
            ax.imshow(images[i], interpolation="nearest")
            ok = labels[i] == preds[i]
            ax.set_title(f"pred: {class_name(preds[i])}\ntrue: {class_name(labels[i])}",
                         fontsize=9, color="green" if ok else "red")
        right = sum(1 for a, b in zip(labels, preds) if a == b)
        fig.suptitle(f"First {n} test images: {right}/{n} right (green right, red wrong)")
        figs.append((save(fig, out, "samples.png"),
                     "Test images with predicted and true labels (green right, red wrong)"))
    strat = [e.get("strategy") or {} for e in eps]
    if eps and strat[-1].get("kind") == "pipeline":
        figs += plot_pipeline_epochs(doc, eps, strat, tag, out)
    if eps and "comm_s_per_rank" in strat[-1]:
        figs += plot_ddp_epochs(eps, strat, tag, out)
    return figs


def plot_pipeline_epochs(doc, eps, strat, tag, out):
    """Pipeline runs: bubble theoretical vs measured per epoch, idle and memory per stage."""
    figs = []
    x = [e["epoch"] for e in eps]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(x, [100 * s.get("theoretical_bubble", 0) for s in strat], "k--o",
            label="theoretical (S-1)/(M+S-1)")
    meas = [s.get("measured_bubble") for s in strat]
    if any(m is not None for m in meas):
        ax.plot(x, [100 * m if m is not None else np.nan for m in meas], "s-",
                label="measured (mean stage idle)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("bubble (% of step time)")
    ax.set_xticks(x)
    p = doc.get("pipeline", {})
    ax.set_title(f"Pipeline bubble ({tag}, S={p.get('stages', '?')}, "
                 f"M={p.get('micro_batches', '?')}, {p.get('schedule', '?')})")
    ax.legend()
    ax.grid(alpha=0.3)
    figs.append((save(fig, out, "pipeline_bubble.png"), "Bubble: theoretical vs measured"))

    stages = strat[-1].get("stages", [])
    if stages:
        idx = [st["stage"] for st in stages]
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
        a1.bar(idx, [st.get("busy_s", 0) for st in stages], label="busy (forward + backward)")
        a1.bar(idx, [st.get("idle_s", 0) for st in stages],
               bottom=[st.get("busy_s", 0) for st in stages], label="idle (waiting)")
        a1.set_xlabel("stage")
        a1.set_ylabel("time in the last epoch (s)")
        a1.set_xticks(idx)
        a1.set_title("Busy and idle time per stage")
        a1.legend(fontsize=8)
        a2.bar(idx, [st.get("peak_activation_bytes", 0) / MIB for st in stages], color="tab:purple")
        a2.set_xlabel("stage")
        a2.set_ylabel("peak boundary activations (MiB)")
        a2.set_xticks(idx)
        a2.set_title("Peak activation memory per stage")
        figs.append((save(fig, out, "pipeline_stages.png"),
                     "Per stage: busy vs idle time and peak activation memory (last epoch)"))
    return figs


def plot_ddp_epochs(eps, strat, tag, out):
    """DDP runs: per-rank compute vs exposed communication, and hidden share per epoch."""
    last = strat[-1]
    ranks = list(range(len(last["comm_s_per_rank"])))
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    comp = last.get("compute_s_per_rank", [0] * len(ranks))
    wait = last.get("comm_wait_s_per_rank", [0] * len(ranks))
    a1.bar(ranks, comp, label="compute (incl. data wait)")
    a1.bar(ranks, wait, bottom=comp, label="waiting on all-reduce (exposed)")
    a1.set_xlabel("rank")
    a1.set_ylabel("time in the last epoch (s)")
    a1.set_xticks(ranks)
    a1.set_title(f"Per-rank time ({last.get('backend', '?')}, {len(ranks)} ranks)")
    a1.legend(fontsize=8)
    x = [e["epoch"] for e in eps]
    a2.plot(x, [100 * s.get("exposed_comm_fraction", 0) for s in strat], "o-")
    a2.set_ylim(0, 100)
    a2.set_xlabel("epoch")
    a2.set_ylabel("exposed share of all-reduce time (%)")
    a2.set_xticks(x)
    a2.set_title("All-reduce time not hidden behind backward")
    a2.grid(alpha=0.3)
    return [(save(fig, out, "ddp_communication.png"),
             "Per-rank compute vs exposed communication, and the exposed share per epoch")]


# ----------------------------------------------------------------------------- bench throughput

def plot_throughput(doc, run_dir, out):
    res = doc.get("results", [])
    if not res:
        return []
    labels = [f"{r['model']}\n{r.get('amp', 'off')}, B={r['batch_size']}" for r in res]
    fwd = [r["forward"]["images_per_s"] for r in res]
    trn = [r["train"]["images_per_s"] if "train" in r else np.nan for r in res]
    x = np.arange(len(res))
    w = 0.38
    device = res[0].get("device", "?")
    if "threads" in res[0] and device == "cpu":
        device += f", {res[0]['threads']} threads"
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(res) + 2), 4.5))
    bar_labels(ax, ax.bar(x - w / 2, fwd, w, label="forward only"))
    bar_labels(ax, ax.bar(x + w / 2, trn, w, label="training step"))
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("throughput (images/s)")
    ax.set_title(f"Model throughput on in-memory tensors ({device})")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    figs = [(save(fig, out, "throughput.png"), "Forward-only and training images/s per model")]

    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(res) + 2), 4.5))
    fms = [r["forward"]["ms_per_iter"] for r in res]
    tms = [r["train"]["ms_per_iter"] if "train" in r else np.nan for r in res]
    bar_labels(ax, ax.bar(x - w / 2, fms, w, label="forward only"), "{:.1f}")
    bar_labels(ax, ax.bar(x + w / 2, tms, w, label="training step"), "{:.1f}")
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("time per iteration (ms)")
    ax.set_title(f"Time per batch ({device})")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    figs.append((save(fig, out, "ms_per_iter.png"), "Milliseconds per batch"))
    return figs


# ----------------------------------------------------------------------------- autobatch

def plot_autobatch(doc, run_dir, out):
    figs = []
    cfg = doc.get("config", {})
    budget = cfg.get("mem_budget_bytes", 0) or 0
    mem_kind = "peak RSS" if doc.get("memory_kind", "peak_rss") == "peak_rss" else "max allocated"
    search = doc.get("search")
    if search and search.get("probes"):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for fits, color, label in ((True, "tab:green", "fits"), (False, "tab:red", "fails")):
            pts = [p for p in search["probes"] if p["fits"] == fits]
            ran = [p for p in pts if p["peak_memory_bytes"] > 0]
            ax.scatter([p["batch"] for p in ran], [p["peak_memory_bytes"] / MIB for p in ran],
                       c=color, label=f"{label} (measured)", zorder=3)
            skipped = [p for p in pts if p["peak_memory_bytes"] <= 0]
            if skipped:
                ax.scatter([p["batch"] for p in skipped], [0] * len(skipped), marker="x",
                           c=color, label=f"{label} ({skipped[0]['reason']}, not run)", zorder=3)
        for i, p in enumerate(search["probes"]):
            ax.annotate(str(i + 1), (p["batch"], p["peak_memory_bytes"] / MIB), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
        if budget > 0:
            ax.axhline(budget / MIB, color="gray", ls="--", label=f"budget {budget / MIB:.0f} MiB")
        ax.axvline(search["batch"], color="tab:blue", ls=":", label=f"found {search['batch']}")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size (images, log scale); numbers: probe order")
        ax.set_ylabel(f"{mem_kind} during the step (MiB)")
        ax.set_title(f"Batch size search: {len(search['probes'])} probes, "
                     f"{search['seconds']:.1f} s ({cfg.get('model', '?')}, {cfg.get('device', '?')})")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        figs.append((save(fig, out, "autobatch_search.png"),
                     "Each probe of the search: batch size and measured peak memory"))

    runs = doc.get("runs", [])
    if len(runs) >= 2:
        names = [f"{r['name']}\nbatch {r['batch_size']}" for r in runs]
        colors = ["tab:gray", "tab:blue"]
        fig, ax = plt.subplots(figsize=(5.5, 4.5))
        bar_labels(ax, ax.bar(names, [r["samples_per_s"] for r in runs], color=colors))
        ax.set_ylabel("training throughput (images/s)")
        sp = doc.get("speedup")
        ax.set_title("Static vs automatic batch size" + (f": {sp:.2f}x" if sp else ""))
        ax.grid(axis="y", alpha=0.3)
        figs.append((save(fig, out, "autobatch_throughput.png"),
                     "Training images/s with the static and the found batch size"))

        fig, ax = plt.subplots(figsize=(7, 4.5))
        for r, c in zip(runs, colors):
            curve = r.get("loss_curve", [])
            ax.plot([p["images"] for p in curve], [p["loss"] for p in curve], ".-", color=c,
                    label=f"{r['name']} (batch {r['batch_size']}, lr {r['lr']:.3g})")
        ax.set_xlabel("images seen")
        ax.set_ylabel("training loss (batch mean cross-entropy)")
        ax.set_title(f"Loss vs images seen ({cfg.get('images', '?')} images each)")
        ax.legend()
        ax.grid(alpha=0.3)
        figs.append((save(fig, out, "autobatch_loss.png"),
                     "Training loss per step against the number of images seen"))

        fig, ax = plt.subplots(figsize=(5.5, 4.5))
        bar_labels(ax, ax.bar(names, [r["peak_memory_bytes"] / MIB for r in runs], color=colors))
        if budget > 0:
            ax.axhline(budget / MIB, color="gray", ls="--", label=f"budget {budget / MIB:.0f} MiB")
            ax.legend()
        ax.set_ylabel(f"{mem_kind} (MiB)")
        ax.set_title("Peak memory while training")
        ax.grid(axis="y", alpha=0.3)
        figs.append((save(fig, out, "autobatch_memory.png"),
                     "Peak memory of the two training runs"))
    return figs


# ----------------------------------------------------------------------------- sweep

def plot_sweep(doc, run_dir, out):
    cells = doc.get("cells", [])
    if not cells:
        return []
    rows = sorted({c["batch_size"] for c in cells})
    cols = sorted({c["workers"] for c in cells})

    def grid(key, scale=1.0):
        g = np.full((len(rows), len(cols)), np.nan)
        for c in cells:
            g[rows.index(c["batch_size"]), cols.index(c["workers"])] = c[key] * scale
        return g

    model = doc.get("config", {}).get("model", "?")
    specs = [("samples_per_s", 1.0, "sweep_throughput.png", "Training throughput",
              "images/s", "{:.0f}", "viridis"),
             ("test_acc", 100.0, "sweep_accuracy.png", "Test accuracy", "accuracy (%)",
              "{:.1f}", "magma"),
             ("epoch_time_s", 1.0, "sweep_epoch_time.png", "Training time per epoch",
              "seconds per epoch", "{:.2f}", "viridis_r"),
             ("data_wait_share", 100.0, "sweep_loader_share.png",
              "Share of training time waiting for data", "% of epoch time", "{:.1f}", "Reds")]
    figs = []
    for key, scale, name, title, unit, fmt, cmap in specs:
        fig, ax = plt.subplots(figsize=(6.5, 4.5))
        heatmap(ax, grid(key, scale), rows, cols, f"{title} ({model})", unit, fmt, cmap)
        figs.append((save(fig, out, name), f"{title} per batch size and loader workers"))
    return figs


# ----------------------------------------------------------------------------- bench allreduce

def plot_allreduce(doc, run_dir, out):
    res = doc.get("results", [])
    if not res:
        return []
    b = [r["bytes"] for r in res]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(b, [r["busbw_gbs"] for r in res], "o-", label="bus bandwidth (algbw x 2(n-1)/n)")
    ax.plot(b, [r["algbw_gbs"] for r in res], "s--", label="algorithm bandwidth (bytes/time)")
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(bytes_label))
    ax.set_xlabel("message size")
    ax.set_ylabel("bandwidth (GB/s)")
    ax.set_title(f"All-reduce bandwidth: {doc.get('backend', '?')}, {doc.get('world', '?')} ranks")
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    figs = [(save(fig, out, "allreduce_bandwidth.png"), "All-reduce bandwidth per message size")]

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(b, [r["time_us"] for r in res], "o-")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(bytes_label))
    ax.set_xlabel("message size")
    ax.set_ylabel("time per all-reduce (µs)")
    ax.set_title(f"All-reduce latency: {doc.get('backend', '?')}, {doc.get('world', '?')} ranks")
    ax.grid(alpha=0.3, which="both")
    figs.append((save(fig, out, "allreduce_time.png"), "Time per all-reduce per message size"))
    return figs


# ----------------------------------------------------------------------------- scaling

def plot_scaling(doc, run_dir, out):
    """tdml bench scaling: measured, projected (ring all-reduce model), simulated, link."""
    figs = []
    model = doc.get("model", "?")
    backend = doc.get("backend", "?")
    meas = doc.get("measured", [])
    if meas:
        n = [m["nproc"] for m in meas]
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        bars = ax.bar([str(v) for v in n], [m["epoch_s"] for m in meas], color="tab:blue")
        bar_labels(ax, bars, "{:.2f} s")
        ax.set_xlabel("processes")
        ax.set_ylabel(f"time for {doc.get('steps', '?')} steps (s)")
        ax.set_title(f"Measured time vs processes: {model}, {backend}, "
                     f"global batch {doc.get('global_batch', '?')}")
        ax.grid(alpha=0.3, axis="y")
        figs.append((save(fig, out, "scaling_measured.png"),
                     "Measured time for the same global work vs number of processes"))
    proj = doc.get("projected", [])
    if proj:
        n = [p["n"] for p in proj]
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        ax.plot(n, n, "k--", label="ideal (linear)")
        ax.plot(n, [p["speedup"] for p in proj], "o-", label="projected (ring all-reduce model)")
        if meas:
            ax.plot([m["nproc"] for m in meas], [m["speedup"] for m in meas], "s-",
                    label="measured (this machine)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_xlabel("workers N")
        ax.set_ylabel("speedup over 1 worker (x)")
        link = doc.get("link", {})
        bw = link.get("bandwidth_Bps", 0) / 1e9
        ax.set_title(f"Speedup vs N: {model} ({bw:.2f} GB/s, "
                     f"{1e3 * link.get('latency_s', 0):.2f} ms latency)")
        ax.legend()
        ax.grid(alpha=0.3, which="both")
        figs.append((save(fig, out, "scaling_speedup.png"),
                     "Projected and measured speedup against ideal linear scaling"))

        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        ax.plot(n, [100 * p["comm_fraction"] for p in proj], "o-", color="tab:red")
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_ylim(0, 100)
        ax.set_xlabel("workers N")
        ax.set_ylabel("communication share of a step (%)")
        ax.set_title(f"Projected communication fraction: {model}")
        ax.grid(alpha=0.3, which="both")
        figs.append((save(fig, out, "scaling_comm_fraction.png"),
                     "Share of each step spent in the all-reduce (projection)"))
    sim = doc.get("simulated", [])
    if sim:
        n = [p["n"] for p in sim]
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        base = sim[0]["samples_per_s"] / max(sim[0]["n"], 1)
        ax.plot(n, [base * v for v in n], "k--", label="ideal")
        ax.plot(n, [p["samples_per_s"] for p in sim], "o-", label="simulated")
        ax.set_xlabel("virtual workers N")
        ax.set_ylabel("throughput (images/s)")
        ax.set_title(f"Simulated throughput vs virtual N: {model}")
        ax.legend()
        ax.grid(alpha=0.3)
        figs.append((save(fig, out, "scaling_simulated.png"),
                     "Measured single-worker step plus projected all-reduce, per virtual N"))
    ar = doc.get("allreduce", {})
    if ar.get("results"):
        figs += plot_allreduce({"results": ar["results"], "backend": backend,
                                "world": ar.get("world", "?")}, run_dir, out)
    return figs


# ----------------------------------------------------------------------------- fl

def _nan(v):
    return np.nan if v is None else v


def plot_fl(doc, run_dir, out):
    rounds = doc.get("rounds", [])
    if not rounds:
        return []
    cfg = doc.get("config", {})
    rule = cfg.get("aggregator", "?")
    x = [r["round"] for r in rounds]
    n_clients = max(1, len(rounds[0].get("clients", [])) or cfg.get("clients", 1))
    figs = []

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(x, [100 * _nan(r["test_accuracy"]) for r in rounds], "o-",  # null: --eval-every
            label=f"clean accuracy ({rule})")
    if any(r.get("backdoor") for r in rounds):
        ax.plot(x, [100 * _nan((r.get("backdoor") or {}).get("asr_non_target")) for r in rounds],
                "s--", color="tab:red", label="backdoor success (non-target images)")
    ax.set_xlabel("round")
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    ax.set_xticks(x)
    ax.set_title(f"Accuracy and attack success per round ({rule}, "
                 f"{len(cfg.get('malicious', []))} of {cfg.get('clients', '?')} malicious)")
    ax.legend()
    ax.grid(alpha=0.3)
    figs.append((save(fig, out, "fl_accuracy.png"),
                 "Clean test accuracy and backdoor attack success per round"))

    first = rounds[0].get("clients", [])
    if first:
        fig, ax = plt.subplots(figsize=(7, 5))
        for mal, color, label in ((False, "tab:blue", "benign"), (True, "tab:red", "malicious")):
            pts = [c for c in first if c.get("malicious") == mal]
            if pts:
                ax.scatter([c["mean"] for c in pts], [c["std"] for c in pts], c=color, s=50,
                           label=label, zorder=3)
        for c in first:
            ax.annotate(f"{c['id']} {c['attack'] if c.get('malicious') else ''}".strip(),
                        (c["mean"], c["std"]), fontsize=7, xytext=(4, 3),
                        textcoords="offset points")
        ax.set_xlabel("mean of the client's update (over parameters)")
        ax.set_ylabel("std of the client's update")
        if max(c["std"] for c in first) > 100 * max(1e-12, min(c["std"] for c in first)):
            ax.set_yscale("log")
        ax.set_title(f"Client updates at round {rounds[0]['round']}")
        ax.legend()
        ax.grid(alpha=0.3)
        figs.append((save(fig, out, "fl_client_scatter.png"),
                     "Per-client update mean vs std (malicious red, benign blue)"))

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(x, [100 * r["clip_ratio"] for r in rounds], "o-", label="clipped")
    ax.plot(x, [100 * len(r.get("rejected", [])) / n_clients for r in rounds], "s-",
            label="rejected (NaN/Inf)")
    ax.plot(x, [100 * len(r.get("flagged", [])) / n_clients for r in rounds], "^-",
            label="flagged by detection")
    ax.plot(x, [100 * len(r.get("excluded", [])) / n_clients for r in rounds], "v--",
            label="excluded from aggregation")
    ax.set_xlabel("round")
    ax.set_ylabel("% of clients")
    ax.set_ylim(-5, 105)
    ax.set_xticks(x)
    clip = cfg.get("max_norm", "?")
    ax.set_title(f"Clip and reject ratios per round (clip norm {'off' if clip == 0 else clip})")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    figs.append((save(fig, out, "fl_clip_reject.png"), "Clip, reject, flag and exclude ratios"))

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(x, [r["aggregate_variance"] for r in rounds], "o-")
    ax.set_yscale("log")
    ax.set_xlabel("round")
    ax.set_ylabel("variance of the aggregated update")
    ax.set_xticks(x)
    ax.set_title(f"Aggregated update variance per round ({rule})")
    ax.grid(alpha=0.3, which="both")
    figs.append((save(fig, out, "fl_variance.png"), "Variance of the aggregated update"))

    fig, ax = plt.subplots(figsize=(7, 4.5))
    up = [r["comm_bytes_up"] / MIB for r in rounds]
    down = [r["comm_bytes_down"] / MIB for r in rounds]
    ax.bar(x, up, label="clients to server")
    ax.bar(x, down, bottom=up, label="server to clients")
    ax.set_xlabel("round")
    ax.set_ylabel("communication (MiB)")
    ax.set_xticks(x)
    ax.set_title("Communication per round")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    figs.append((save(fig, out, "fl_communication.png"), "Bytes sent per round"))

    fig, ax = plt.subplots(figsize=(7, 4.5))
    prec = [_nan(r.get("detection", {}).get("precision")) for r in rounds]
    rec = [_nan(r.get("detection", {}).get("recall")) for r in rounds]
    ax.plot(x, [100 * v for v in prec], "o-", label="precision")
    ax.plot(x, [100 * v for v in rec], "s--", label="recall")
    ax.set_xlabel("round")
    ax.set_ylabel("%")
    ax.set_ylim(-5, 105)
    ax.set_xticks(x)
    ax.set_title("Detection of malicious clients (missing: nothing flagged / no attacker)")
    ax.legend()
    ax.grid(alpha=0.3)
    figs.append((save(fig, out, "fl_detection.png"), "Detection precision and recall per round"))
    return figs


# ----------------------------------------------------------------------------- fl grid

def grid_labels(g):
    """(attack, aggregator, alpha) of a grid.json group, spelled as the grid's tokens."""
    attack = g["attack"] + (f":{g['malicious']}" if g.get("malicious") is not None else "")
    rule = g["aggregator"] + ("+bucketing" if g.get("bucketing") else "")
    alpha = g["alpha"] if isinstance(g["alpha"], str) else f"{g['alpha']:.10g}"
    return attack, rule, alpha


def plot_fl_grid(doc, run_dir, out):
    groups = doc.get("groups", [])
    if not groups:
        return []
    attacks, rules, alphas = [], [], []
    for g in groups:
        for value, seen in zip(grid_labels(g), (attacks, rules, alphas)):
            if value not in seen:
                seen.append(value)
    n = sum(1 for c in doc.get("cells", []) if c.get("status") == "completed")
    seeds = len(doc.get("config", {}).get("seeds", [])) or "?"
    specs = [("accuracy", "fl_grid_accuracy.png", "Final clean test accuracy", "magma",
              "Mean final clean test accuracy over seeds, attack x aggregator, one panel per alpha"),
             ("asr", "fl_grid_asr.png", "Final backdoor success rate (ASR)", "Reds",
              "Mean final backdoor ASR (triggered non-target images sent to the target) over "
              "seeds; the 'none' row is the no-attack baseline")]
    figs = []
    for key, name, title, cmap, caption in specs:
        fig, axes = plt.subplots(1, len(alphas), squeeze=False,
                                 figsize=(2.5 + 1.3 * len(rules) * len(alphas) + 1.5 * len(alphas),
                                          1.8 + 0.55 * len(attacks)))
        for ax, alpha in zip(axes[0], alphas):
            v = np.full((len(attacks), len(rules)), np.nan)
            for g in groups:
                a, r, al = grid_labels(g)
                mean = g.get(key, {}).get("mean")
                if al == alpha and mean is not None:
                    v[attacks.index(a), rules.index(r)] = 100 * mean
            panel = "IID" if alpha == "iid" else f"Dirichlet alpha {alpha}"
            heatmap(ax, v, attacks, rules, f"{title}\n{panel}", "% (mean over seeds)", "{:.1f}",
                    cmap, xlabel="aggregator", ylabel="attack", vmin=0, vmax=100)
            ax.tick_params(axis="x", labelrotation=30)
        fig.suptitle(f"tdml fl grid: {n} completed cells, {seeds} seeds", fontsize=10)
        figs.append((save(fig, out, name), caption))
    return figs


# Kinds of metrics.json and the function drawing each (train covers single, ddp and pipeline).
PLOTTERS = {
    "train": plot_train,
    "bench.throughput": plot_throughput,
    "autobatch": plot_autobatch,
    "sweep": plot_sweep,
    "bench.allreduce": plot_allreduce,
    "fl": plot_fl,
    "bench.scaling": plot_scaling,
    "fl-grid": plot_fl_grid,
}


# ----------------------------------------------------------------------------- summary

def run_summary(doc, path):
    """(label, seconds per epoch/round, images/s, unit, [(x, accuracy)]) of one run, or None."""
    kind = kind_of(doc)
    name = os.path.basename(os.path.normpath(path))
    if kind == "train":
        eps = doc.get("epochs", [])
        if not eps:
            return None
        mode = doc.get("run", {}).get("mode", "single")
        return (f"{name}\n({mode})", np.mean([e["epoch_time_s"] for e in eps]),
                np.mean([e["samples_per_s"] for e in eps]), "epoch",
                [(e["epoch"], e["test_acc"]) for e in eps])
    if kind == "fl":
        rs = doc.get("rounds", [])
        if not rs:
            return None
        rule = doc.get("config", {}).get("aggregator", "?")
        return (f"{name}\n(fl, {rule})", np.mean([r["seconds"] for r in rs]),
                np.mean([r["samples_per_s"] for r in rs]), "round",
                [(r["round"], r["test_accuracy"]) for r in rs if r["test_accuracy"] is not None])
    return None


def plot_summary(paths, out):
    rows, skipped = [], []
    for p in paths:
        doc, _ = load_metrics(p)
        s = run_summary(doc, p)
        (rows.append(s) if s else skipped.append(f"{p} ({kind_of(doc)})"))
    if not rows:
        raise PlotError("--summary: no train or fl runs with finished epochs/rounds among " +
                        ", ".join(paths))
    labels = [r[0] for r in rows]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    figs = []
    w = max(6, 1.5 * len(rows) + 2)

    fig, ax = plt.subplots(figsize=(w, 4.5))
    bar_labels(ax, ax.bar(labels, [r[1] for r in rows], color=colors[: len(rows)]), "{:.1f}")
    ax.set_ylabel("seconds per epoch / round")
    ax.set_title("Time per epoch (training) or round (FL)")
    ax.grid(axis="y", alpha=0.3)
    figs.append((save(fig, out, "summary_time.png"), "Mean time per epoch or round"))

    fig, ax = plt.subplots(figsize=(w, 4.5))
    bar_labels(ax, ax.bar(labels, [r[2] for r in rows], color=colors[: len(rows)]))
    ax.set_ylabel("throughput (training images/s)")
    ax.set_title("Throughput")
    ax.grid(axis="y", alpha=0.3)
    figs.append((save(fig, out, "summary_throughput.png"), "Mean training images/s"))

    fig, ax = plt.subplots(figsize=(w, 4.5))
    base = rows[0][2]
    bar_labels(ax, ax.bar(labels, [r[2] / base if base else np.nan for r in rows],
                          color=colors[: len(rows)]), "{:.2f}x")
    ax.axhline(1.0, color="gray", ls="--", label=f"baseline: {labels[0].splitlines()[0]}")
    ax.set_ylabel("speedup (throughput / baseline throughput)")
    ax.set_title("Speedup over the first run")
    ax.legend(loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    figs.append((save(fig, out, "summary_speedup.png"), "Throughput relative to the first run"))

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r, c in zip(rows, colors * 4):
        ax.plot([a for a, _ in r[4]], [100 * b for _, b in r[4]], "o-", color=c,
                label=r[0].replace("\n", " "))
    ax.set_xlabel("epoch (training) / round (FL)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Test accuracy per epoch or round")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    figs.append((save(fig, out, "summary_accuracy.png"), "Test accuracy per epoch or round"))
    config = {"runs": list(paths), "baseline": paths[0], "skipped": skipped}
    return figs, config


# ----------------------------------------------------------------------------- index.html

def write_index(out, title, config, figs):
    parts = [
        "<!doctype html>", "<html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1200px}"
        "figure{display:inline-block;margin:1em;vertical-align:top}"
        "img{max-width:560px;border:1px solid #ddd}"
        "pre{background:#f6f6f6;padding:1em;overflow:auto;font-size:12px}</style>",
        "</head><body>", f"<h1>{html.escape(title)}</h1>",
    ]
    for name, caption in figs:
        parts.append(f"<figure><img src='{html.escape(name)}' alt='{html.escape(caption)}'>"
                     f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    parts.append("<h2>Configuration</h2>")
    parts.append(f"<pre>{html.escape(json.dumps(config, indent=2, sort_keys=True))}</pre>")
    parts.append("</body></html>")
    with open(os.path.join(out, "index.html"), "w") as f:
        f.write("\n".join(parts) + "\n")


def run_config(doc):
    keep = ("kind", "status", "error", "created", "finished", "host", "tdml_version", "config",
            "run", "data", "model", "memory_kind", "backend", "world", "impl", "parameters",
            "command", "statistics")
    return {k: doc[k] for k in keep if k in doc}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="run directory (or metrics file)")
    ap.add_argument("--out", help="output directory")
    ap.add_argument("--summary", action="store_true", help="compare several runs")
    a = ap.parse_args(argv)
    try:
        if a.summary:
            out = a.out or "summary"
            os.makedirs(out, exist_ok=True)
            figs, config = plot_summary(a.runs, out)
            title = f"tdml summary of {len(a.runs)} runs"
        else:
            if len(a.runs) != 1:
                raise PlotError("one run directory, or --summary DIR1 DIR2 ...")
            doc, run_dir = load_metrics(a.runs[0])
            kind = kind_of(doc)
            if kind not in PLOTTERS:
                raise PlotError(f"{a.runs[0]}: no plots for metrics kind '{kind}' "
                                f"(known: {', '.join(sorted(PLOTTERS))})")
            out = a.out or os.path.join(run_dir, "plots")
            os.makedirs(out, exist_ok=True)
            figs = PLOTTERS[kind](doc, run_dir, out)
            if not figs:
                raise PlotError(f"{a.runs[0]}: nothing to draw yet (no epochs/results/rounds)")
            config = run_config(doc)
            title = f"tdml {kind}: {os.path.basename(os.path.normpath(a.runs[0]))}"
        write_index(out, title, config, figs)
    except PlotError as e:
        print(f"plot.py: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {len(figs)} figures and {os.path.join(out, 'index.html')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
