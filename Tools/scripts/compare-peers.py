#!/usr/bin/env python3
"""Times one training step of gan ("mlp" in the peers) and dcgan: Atelier on
the CPU path and on PoCL next to the peers of ../shared/peers (PyTorch,
Keras/TF, Keras/TF + XLA; tinygrad on PoCL with --tinygrad), 2 threads each,
interleaved over --rounds rounds so machine noise spreads evenly. Prints a
Markdown table of the median ms per step over the rounds.

  Tools/scripts/compare-peers.py --rounds 3
  Tools/scripts/compare-peers.py --models dcgan --batches 64 --tinygrad
Needs the peers' virtualenv (bash ../shared/peers/setup_venv.sh) and a
release build of atelier-bench.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
from datetime import date

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PEERS = os.environ.get("PEERS", os.path.join(ROOT, "..", "shared", "peers"))
VENV = os.environ.get("VENV", os.path.expanduser("~/.venvs/atelier-peers"))
BENCH = os.path.join(ROOT, ".build", "release", "atelier-bench")


def ours(device, model, batch, steps):
    out = subprocess.run([BENCH, "--device", device, "--model", model, "--batches", str(batch),
                          "--repeats", str(steps), "--warmup", "3", "--json"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)[0]["medianMilliseconds"]


def peer(script, model, batch, steps, *extra):
    cmd = [os.path.join(VENV, "bin", "python"), script, "--model", model, "--batch", str(batch),
           "--steps", str(steps), "--warmup", "3", "--threads", "2", *extra]
    try:
        out = subprocess.run(cmd, cwd=PEERS, capture_output=True, text=True, timeout=1800).stdout
        return json.loads(out.strip().splitlines()[-1])["median_ms"]
    except Exception:
        return None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--models", default="gan,dcgan")
    p.add_argument("--batches", default="64,256")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--tinygrad", action="store_true", help="also tinygrad on PoCL (slow: minutes per case)")
    a = p.parse_args()

    columns = [("Atelier CPU path", lambda m, b: ours("cpu", m, b, a.steps)),
               ("Atelier PoCL", lambda m, b: ours("opencl", m, b, a.steps)),
               ("PyTorch CPU", lambda m, b: peer("torch_gan.py", pm(m), b, a.steps)),
               ("Keras/TF", lambda m, b: peer("keras_gan.py", pm(m), b, a.steps)),
               ("Keras/TF + XLA", lambda m, b: peer("keras_gan.py", pm(m), b, a.steps, "--xla"))]
    if a.tinygrad:
        columns.append(("tinygrad PoCL", lambda m, b: peer("tinygrad_gan.py", pm(m), b, 5, "--device", "CL")))
    cases = [(m, int(b)) for m in a.models.split(",") for b in a.batches.split(",")]
    results = {}
    for r in range(a.rounds):
        for m, b in cases:
            for name, run in columns:
                if name == "tinygrad PoCL" and r > 0:
                    continue  # minutes per run: one round
                print(f"round {r + 1}: {name} {m} {b}", file=sys.stderr, flush=True)
                v = run(m, b)
                if v is not None:
                    results.setdefault((m, b, name), []).append(v)

    print(f"date: {date.today()}, {os.cpu_count()} cores, medians of {a.rounds} interleaved rounds of {a.steps} steps, ms per step\n")
    print("| model | batch | " + " | ".join(n for n, _ in columns) + " |")
    print("| --- | ---: | " + " | ".join("---:" for _ in columns) + " |")
    for m, b in cases:
        cells = []
        for name, _ in columns:
            vs = results.get((m, b, name))
            cells.append(f"{statistics.median(vs):.1f}" if vs else "n/a")
        print(f"| {m} | {b} | " + " | ".join(cells) + " |")


def pm(model):
    return "mlp" if model == "gan" else model


if __name__ == "__main__":
    main()
