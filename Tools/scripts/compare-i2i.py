#!/usr/bin/env python3
"""Times one pix2pix training step (G forward, D phase with Adam, G phase with
Adam, the losses read back): Atelier's CPU path next to PyTorch's
../shared/peers/torch_i2i.py (junyanz's networks and step), 2 threads each,
3-channel images, interleaved over --rounds rounds so machine noise spreads
evenly. Prints a Markdown table of the median ms per step over the rounds,
Atelier's time as a share of PyTorch's, and the CPU time other processes
took while PyTorch ran (its `others_cores`; above ~0.25 the figures are noisy).

  Tools/scripts/compare-i2i.py --rounds 3
  Tools/scripts/compare-i2i.py --sizes 256 --batches 1,4
Needs the peers' virtualenv (bash ../shared/peers/setup_venv.sh) and a
release build of atelier-bench.
"""
import argparse
import json
import os
import statistics
import subprocess
from datetime import datetime, timezone

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PEERS = os.environ.get("PEERS", os.path.join(ROOT, "..", "shared", "peers"))
VENV = os.environ.get("VENV", os.path.expanduser("~/.venvs/atelier-peers"))
BENCH = os.path.join(ROOT, ".build", "release", "atelier-bench")


def ours(model, size, batch, steps):
    out = subprocess.run([BENCH, "--device", "cpu", "--model", model, "--image-size", str(size), "--channels", "3",
                          "--batches", str(batch), "--repeats", str(steps), "--warmup", "2", "--json"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)[0]["medianMilliseconds"]


def pytorch(model, size, batch, steps):
    cmd = [os.path.join(VENV, "bin", "python"), "torch_i2i.py", "--model", model, "--size", str(size),
           "--batch", str(batch), "--steps", str(steps), "--warmup", "2", "--threads", "2"]
    out = subprocess.run(cmd, cwd=PEERS, capture_output=True, text=True, timeout=3600).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return result["median_ms"], result["cpu"]["others_cores"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--model", default="pix2pix")
    p.add_argument("--sizes", default="64,128,256")
    p.add_argument("--batches", default="1")
    p.add_argument("--steps", type=int, default=10)
    a = p.parse_args()
    cases = [(int(s), int(b)) for s in a.sizes.split(",") for b in a.batches.split(",")]
    times = {c: ([], [], []) for c in cases}
    start = datetime.now(timezone.utc)
    for r in range(a.rounds):
        for c in cases:
            mine = ours(a.model, *c, a.steps)
            theirs, others = pytorch(a.model, *c, a.steps)
            times[c][0].append(mine)
            times[c][1].append(theirs)
            times[c][2].append(others)
            print(f"round {r + 1}: {a.model} {c[0]} px batch {c[1]}: Atelier {mine:.1f} ms, PyTorch {theirs:.1f} ms "
                  f"(others_cores {others})", flush=True)
    end = datetime.now(timezone.utc)
    print(f"\nms per step, median of {a.rounds} interleaved rounds, {start:%Y-%m-%d %H:%M}-{end:%H:%M} UTC:\n")
    print("| model | size | batch | Atelier CPU path | PyTorch CPU | Atelier / PyTorch | PyTorch's others_cores |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for (size, batch), (mine, theirs, others) in times.items():
        m, t = statistics.median(mine), statistics.median(theirs)
        print(f"| {a.model} | {size} | {batch} | {m:.1f} | {t:.1f} | {m / t:.2f}x | {min(others):.2f}-{max(others):.2f} |")


if __name__ == "__main__":
    main()
