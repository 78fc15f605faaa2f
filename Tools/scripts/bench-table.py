#!/usr/bin/env python3
"""Runs atelier-bench several times and prints a Markdown table of the
per-case medians, for docs/benchmarks.md.

usage: Tools/scripts/bench-table.py [--runs N] [--binary PATH] -- ATELIER_BENCH_ARGS...
e.g.   Tools/scripts/bench-table.py --runs 3 -- --device opencl --batches 64,256
"""
import argparse
import json
import statistics
import subprocess
import sys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--binary", default=".build/release/atelier-bench")
    parser.add_argument("bench_args", nargs="*")
    args = parser.parse_args()

    reports = []
    for i in range(args.runs):
        print(f"run {i + 1}/{args.runs}", file=sys.stderr)
        out = subprocess.run([args.binary, "--json", *args.bench_args], check=True,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
        reports.append(json.loads(out))

    first = reports[0]
    units = first["peak"]["units"]
    peak_flops = statistics.median(r["peak"]["gflops"] for r in reports)
    peak_bw = statistics.median(r["peak"]["gigabytesPerSecond"] for r in reports)
    print(f"device: `{first['device']}`" + (f", tuning: `{first['tuning']}`" if first.get("tuning") else ""))
    print(f"timing: {first['timing']}; medians of {args.runs} runs, each the median of its repeats")
    print(f"peak: {peak_flops:.1f} GFLOP/s ({peak_flops / units:.1f} per unit), "
          f"copy {peak_bw:.1f} GB/s ({peak_bw / units:.1f} per unit), {units} units\n")
    print("| case | ms | rate | per unit | % peak | max rel. error vs CPU path |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for idx, case in enumerate(first["results"]):
        runs = [r["results"][idx] for r in reports]
        ms = statistics.median(r["milliseconds"] for r in runs)
        if case.get("gflops") is not None:
            rate = statistics.median(r["gflops"] for r in runs)
            rate_text, peak = f"{rate:.1f} GFLOP/s", peak_flops
        else:
            rate = statistics.median(r["gigabytesPerSecond"] for r in runs)
            rate_text, peak = f"{rate:.1f} GB/s", peak_bw
        err = case.get("maxRelativeError")
        err_text = "reference" if err is None else f"{max(r['maxRelativeError'] for r in runs):.1e}"
        print(f"| {case['name']} | {ms:.3f} | {rate_text} | {rate / units:.1f} | {100 * rate / peak:.0f}% | {err_text} |")
    for r in reports:
        for f in r["failures"]:
            print(f"\nFAILED: {f}")


if __name__ == "__main__":
    main()
