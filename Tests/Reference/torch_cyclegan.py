"""The PyTorch reference of Atelier's CycleGAN: the networks and training step of
../shared/peers/torch_i2i.py (junyanz's ResNet generators and PatchGANs with InstanceNorm,
LSGAN, cycle 10 x L1 each way, identity 0.5, G_A + G_B then D_A + D_B, Adam 2e-4 / 0.5), here at
32 px with ngf = ndf = 8, 2 residual blocks, 3 channels each way, batch 1 and the image pools
bypassed (as torch_i2i's --check).

    ATELIER_CYCLEGAN_EXPORT=/tmp/cg swift test --filter cycleganMatchesPyTorch
    python3 Tests/Reference/torch_cyclegan.py /tmp/cg [path/to/shared/peers]

The Swift test writes its weights (names.json + weights.f32, Atelier's seeded
initialisation) and the inputs of three steps; this script prints every term of the
three steps and the step-0 gradient norm of each network, which the test holds.
"""
import argparse
import json
import os
import sys

folder = sys.argv[1]
peers = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "../../../shared/peers")
sys.path.insert(0, os.path.abspath(peers))
sys.argv = ["torch_i2i.py", "--model", "cyclegan", "--check", "--threads", "1"]
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch_i2i as peer  # noqa: E402

meta = json.load(open(f"{folder}/meta.json"))
size, batch, ngf, blocks = meta["size"], meta["batch"], meta["ngf"], meta["blocks"]
norm = torch.nn.InstanceNorm2d
nets = {"G_A": peer.ResnetGenerator(3, 3, blocks, ngf=ngf, norm=norm, bias=True),
        "G_B": peer.ResnetGenerator(3, 3, blocks, ngf=ngf, norm=norm, bias=True),
        "D_A": peer.NLayerDiscriminator(3, ndf=ngf, norm=norm, bias=True),
        "D_B": peer.NLayerDiscriminator(3, ndf=ngf, norm=norm, bias=True)}
names = json.load(open(f"{folder}/names.json"))
weights = np.fromfile(f"{folder}/weights.f32", dtype=np.float32)
params = {f"{k}.{n}": p for k, net in nets.items() for n, p in net.named_parameters()}
assert sorted(params) == sorted(names), set(params) ^ set(names)
offset = 0
with torch.no_grad():
    for name in names:
        p = params[name]
        p.copy_(torch.from_numpy(weights[offset:offset + p.numel()].reshape(p.shape)))
        offset += p.numel()
assert offset == weights.size
A = torch.from_numpy(np.fromfile(f"{folder}/A.f32", dtype=np.float32).reshape(3, batch, 3, size, size))
B = torch.from_numpy(np.fromfile(f"{folder}/B.f32", dtype=np.float32).reshape(3, batch, 3, size, size))
trainer = peer.make_trainer(argparse.Namespace(model="cyclegan", pool=0, seed=0, identity=0.5), nets)
trainer.probe = {}
probe = trainer.probe
rows = []
for s in range(3):
    rows.append({k: round(v, 6) for k, v in trainer.step(A[s], B[s]).items()})
    trainer.probe = None
norms = {n: round(float(np.sqrt(sum(v * v for k, v in probe.items() if k.startswith(n + ".")))), 6) for n in nets}
print(json.dumps({"torch": torch.__version__, "steps": rows, "grad_norm_step0": norms}))
