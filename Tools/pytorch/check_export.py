"""Checks Atelier's weights files against PyTorch, both ways, for every GAN layout.

    python Tools/pytorch/check_export.py --atelier .build/release/atelier --work /tmp/export-check

For gan, dcgan and cdcgan at 28 px and dcgan and cdcgan at 32 and 64 px (pytorch/examples'
layout), it trains two steps in Atelier and then:
  1. `atelier export` G and D: both load into atelier_nets' modules with strict=True, and G's images
     from Atelier's noise (SplitMix64 + Box-Muller, reproduced here) match `atelier sample`'s PNGs
     to one level of 255;
  2. PyTorch's own G (new random weights, BatchNorm statistics moved off 0/1) saved with
     safetensors in F16, num_batches_tracked included, drawn by `atelier sample --weights
     --model ...`: the same images as PyTorch draws with those F16 weights.
With --i2i PEERS (a folder holding torch_i2i.py, whose networks keep junyanz's layout and names),
it also exports every network of a pix2pix and a CycleGAN model at 32 px and loads each into
junyanz's network with strict=True.
Needs torch, safetensors, numpy and pillow (../shared/peers' venv has them).
"""
import argparse, math, os, subprocess, sys

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import atelier_nets  # noqa: E402

MASK = (1 << 64) - 1


def atelier_normal(seed, count):
    """RandomGenerator(seed:).normal(count), bit for bit."""
    state, out = seed, []

    def nxt():
        nonlocal state
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    while len(out) < count:
        u1, u2 = (nxt() >> 11) * 2.0 ** -53, (nxt() >> 11) * 2.0 ** -53
        r = math.sqrt(-2 * math.log(max(u1, 1e-300)))
        out += [np.float32(r * math.cos(2 * math.pi * u2)), np.float32(r * math.sin(2 * math.pi * u2))]
    return np.array(out[:count], dtype=np.float32)


def draw(G, model, nz, classes, count, seed, image_size):
    z = torch.from_numpy(atelier_normal(seed, count * nz)).view(count, nz)
    if model == "cdcgan":
        z = torch.cat([z, torch.eye(classes)[torch.arange(count) % classes]], 1)
    with torch.no_grad():
        x = G.eval()(z)
    lo, hi = (0.0, 1.0) if model == "gan" else (-1.0, 1.0)
    return np.clip(np.round((x.numpy() - lo) * 255 / (hi - lo)), 0, 255)


def atelier_pictures(folder, count):
    pictures = []
    for n in range(count):
        a = np.asarray(Image.open(os.path.join(folder, f"{n:04d}.png")), dtype=np.float64)
        pictures.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
    return np.stack(pictures)


def run(cmd):
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def check(a, work, model, size, channels):
    nz, width, count, seed, k = 100, 16, 8, 7, 10 if model == "cdcgan" else 0
    tag = f"{model}-{size}-{channels}"
    out = os.path.join(work, tag)
    run([a.atelier, "train", "--model", model, "--image-size", str(size), "--channels", str(channels), "--ngf", str(width),
         "--ndf", str(width), "--limit-images", "256", "--dry-run", "--device", "cpu", "--out", out] +
        (["--image-size", str(size)] if model != "gan" else []))
    ckpt = os.path.join(out, "checkpoint.safetensors")
    failures = []
    # 1. Atelier -> PyTorch.
    for network in ("generator", "discriminator"):
        path = os.path.join(work, f"{tag}-{network}.safetensors")
        run([a.atelier, "export", "--checkpoint", ckpt, "--network", network, "--out", path])
        build = atelier_nets.generator if network == "generator" else atelier_nets.discriminator
        kw = dict(image_size=size, channels=channels, classes=k)
        kw.update(nz=nz, ngf=width) if network == "generator" else kw.update(ndf=width)
        net = build(model, **kw)
        net.load_state_dict(load_file(path), strict=True)
        if network == "generator":
            G = net
    folder = os.path.join(work, f"{tag}-atelier")
    run([a.atelier, "sample", "--checkpoint", ckpt, "--count", str(count), "--seed", str(seed), "--device", "cpu", "--out", folder])
    diff = np.abs(draw(G, model, nz, k, count, seed, size) - atelier_pictures(folder, count)).max()
    if diff > 1:
        failures.append(f"exported G draws differently in PyTorch (max {diff} levels)")
    # 2. PyTorch -> Atelier, in F16.
    torch.manual_seed(seed)
    G = atelier_nets.generator(model, image_size=size, channels=channels, nz=nz, ngf=width, classes=k)
    with torch.no_grad():
        for m in G.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.num_batches_tracked.fill_(123)
        for p in G.parameters():
            p.copy_(p.half().float())
    state = {key: (v.half() if v.is_floating_point() else v) for key, v in G.state_dict().items()}
    G.load_state_dict({key: v.float() if v.is_floating_point() else v for key, v in state.items()})
    path = os.path.join(work, f"{tag}-torch.safetensors")
    save_file({key: v.contiguous() for key, v in state.items()}, path)
    folder = os.path.join(work, f"{tag}-from-torch")
    notes = run([a.atelier, "sample", "--weights", path, "--model", model, "--image-size", str(size), "--channels", str(channels),
                 "--ngf", str(width), "--count", str(count), "--seed", str(seed), "--device", "cpu", "--out", folder])
    diff = np.abs(draw(G, model, nz, k, count, seed, size) - atelier_pictures(folder, count)).max()
    if diff > 1:
        failures.append(f"PyTorch's G draws differently in Atelier (max {diff} levels)")
    print(f"{tag:16} {'ok' if not failures else '; '.join(failures)}   ({' / '.join(notes.strip().splitlines()[:-1])})")
    return not failures


def check_i2i(a, work, model):
    sys.path.insert(0, a.i2i)
    import json, types
    argv, sys.argv = sys.argv, [sys.argv[0]]  # torch_i2i reads its own arguments on import
    import torch_i2i
    sys.argv = argv
    from safetensors import safe_open
    data = os.path.join(work, f"{model}-data")
    if model == "pix2pix":
        run([a.atelier, "datasets", "edges2fashion", "--out", data, "--size", "32", "--limit", "8"])
    else:
        run([a.atelier, "datasets", "fabrics", "--pattern", "leopard", "--out", data, "--size", "32", "--limit", "8"])
    out = os.path.join(work, model)
    run([a.atelier, "train", "--model", model, "--dataroot", data, "--image-size", "32", "--dry-run", "--device", "cpu", "--out", out])
    names = {"pix2pix": ["G", "D"], "cyclegan": ["G_A", "G_B", "D_A", "D_B"]}[model]
    failures = []
    for network in names:
        path = os.path.join(work, f"{model}-{network}.safetensors")
        run([a.atelier, "export", "--checkpoint", os.path.join(out, "checkpoint.safetensors"), "--network", network, "--out", path])
        with safe_open(path, "pt") as f:
            config = json.loads(f.metadata()["atelier.model"])
        t = config["translation"]
        args = types.SimpleNamespace(model=model, norm=t["norm"], in_channels=t["inputChannels"],
                                     out_channels=config["imageChannels"], num_downs=config["imageSize"].bit_length() - 1,
                                     dropout=t["dropout"], n_blocks=t["residualBlocks"])
        try:
            torch_i2i.build_nets(args)[network].load_state_dict(load_file(path), strict=True)
        except RuntimeError as e:
            failures.append(f"{network}: {e}")
    print(f"{model:16} {'ok: ' + ', '.join(names) + ' load with strict=True' if not failures else '; '.join(failures)}")
    return not failures


def check_spectral(a, work, model, size):
    """A spectrally normalised D loads into PyTorch's spectral_norm layers. The sigma PyTorch takes
    from the exported u and v is a power-iteration estimate: at most the largest singular value,
    and close to it after the warm-up iterations and one step (a wide layer converges slowest)."""
    tag = f"{model}-{size}-sn"
    out = os.path.join(work, tag)
    run([a.atelier, "train", "--model", model, "--image-size", str(size), "--ndf", "16", "--ngf", "16", "--spectral-norm",
         "--limit-images", "256", "--dry-run", "--device", "cpu", "--out", out])
    path = os.path.join(work, f"{tag}-discriminator.safetensors")
    run([a.atelier, "export", "--checkpoint", os.path.join(out, "checkpoint.safetensors"), "--network", "discriminator", "--out", path])
    D = atelier_nets.discriminator(model, image_size=size, ndf=16, classes=10 if model == "cdcgan" else 0, spectral_norm=True)
    D.load_state_dict(load_file(path), strict=True)
    D.eval()
    worst = 0.0
    with torch.no_grad():
        for m in D.modules():
            if hasattr(m, "weight_orig"):
                W = m.weight_orig.flatten(1)
                sigma = torch.dot(m.weight_u, W @ m.weight_v)
                ratio = float(sigma / torch.linalg.matrix_norm(W, ord=2))
                worst = max(worst, 1 - ratio if ratio <= 1 + 1e-4 else math.inf)
    ok = worst < 0.15
    print(f"{tag:16} {'ok' if ok else 'FAILED'}   (strict load; sigma from u, v at most {worst:.1%} under the largest singular value)")
    return ok


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--atelier", default=".build/release/atelier")
    p.add_argument("--work", default="/tmp/atelier-export-check")
    p.add_argument("--i2i", help="folder of torch_i2i.py (../shared/peers) for the pix2pix and CycleGAN checks")
    a = p.parse_args()
    os.makedirs(a.work, exist_ok=True)
    cases = [("gan", 28, 1), ("dcgan", 28, 1), ("cdcgan", 28, 1), ("dcgan", 64, 3), ("dcgan", 32, 1), ("cdcgan", 32, 1)]
    ok = all([check(a, a.work, *case) for case in cases])
    ok = all([check_spectral(a, a.work, model, size) for model, size in (("gan", 28), ("dcgan", 28), ("dcgan", 32))]) and ok
    if a.i2i:
        ok = all([check_i2i(a, a.work, model) for model in ("pix2pix", "cyclegan")]) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
