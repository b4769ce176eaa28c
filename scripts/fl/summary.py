#!/usr/bin/env python3
"""Prints one line per `tdml fl` run directory (metrics.json): the final round's clean accuracy,
backdoor success rates, and detection precision/recall over all rounds.
Usage: summary.py RUN_DIR...   (Debian's /usr/bin/python3 or any python3; stdlib only)"""
import json
import sys


def detection(rounds):
    tp = sum(r["detection"]["true_positives"] for r in rounds)
    fp = sum(r["detection"]["false_positives"] for r in rounds)
    fn = sum(r["detection"]["false_negatives"] for r in rounds)
    p = tp / (tp + fp) if tp + fp else float("nan")
    rc = tp / (tp + fn) if tp + fn else float("nan")
    return p, rc, tp, fp, fn


def main():
    print(f"{'run':28}{'rule':>14}{'attack':>28}{'acc':>8}{'asr':>8}{'asr_all':>8}"
          f"{'det P':>7}{'det R':>7}{'s/round':>9}")
    for d in sys.argv[1:]:
        m = json.load(open(f"{d}/metrics.json"))
        rs = m["rounds"]
        last = rs[-1]
        c = m["config"]
        bd = last.get("backdoor")
        asr = f"{bd['asr_non_target']:8.3f}{bd['asr_all']:8.3f}" if bd else f"{'-':>8}{'-':>8}"
        p, rc, *_ = detection(rs)
        attack = c["attacks"] if c["malicious"] else "none"
        secs = sum(r["seconds"] for r in rs) / len(rs)
        print(f"{d.rstrip('/').split('/')[-1]:28}{c['aggregator']:>14}{attack:>28}"
              f"{last['test_accuracy']:8.3f}{asr}{p:7.2f}{rc:7.2f}{secs:9.1f}")


if __name__ == "__main__":
    main()
