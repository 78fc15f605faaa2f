"""What torch_pix2pix.py and torch_cyclegan.py share: importing ../shared/peers/torch_i2i.py,
loading the weights and step inputs an Atelier test exported (ReferenceExport in the tests'
Support folder), and running three steps of torch_i2i's trainer with its step-0 gradient probe."""
import json
import os
import sys


def import_peer(model, peers=None):
    """torch_i2i reads its command line on import: give it a --check one."""
    peers = peers or os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../shared/peers")
    sys.path.insert(0, os.path.abspath(peers))
    sys.argv = ["torch_i2i.py", "--model", model, "--check", "--threads", "1"]
    import torch_i2i
    return torch_i2i


def load(folder, nets, in_channels, out_channels):
    """Copies the exported weights into `nets` by name; returns meta and the inputs A, B [3, N, C, S, S]."""
    import numpy as np
    import torch
    meta = json.load(open(f"{folder}/meta.json"))
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
    size, batch = meta["size"], meta["batch"]
    A = torch.from_numpy(np.fromfile(f"{folder}/A.f32", dtype=np.float32).reshape(3, batch, in_channels, size, size))
    B = torch.from_numpy(np.fromfile(f"{folder}/B.f32", dtype=np.float32).reshape(3, batch, out_channels, size, size))
    return meta, A, B


def run(trainer, nets, A, B):
    """Prints every term of three steps and each network's step-0 gradient norm as one JSON line."""
    import numpy as np
    import torch
    trainer.probe = {}
    probe = trainer.probe
    rows = []
    for s in range(3):
        rows.append({k: round(v, 6) for k, v in trainer.step(A[s], B[s]).items()})
        trainer.probe = None
    norms = {n: round(float(np.sqrt(sum(v * v for k, v in probe.items() if k.startswith(n + ".")))), 6) for n in nets}
    print(json.dumps({"torch": torch.__version__, "steps": rows, "grad_norm_step0": norms}))
