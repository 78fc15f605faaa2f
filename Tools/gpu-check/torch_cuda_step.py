#!/usr/bin/env python3
"""PyTorch on CUDA, for the GPU check: the training step of ../shared/peers
(torch_gan.py, whose models and step this copies: same layers, BCE with
logits, Adam lr 2e-4, betas (0.5, 0.999), D step then G step through the
updated D, the losses read back each step as Atelier does) moved to the GPU.
The peers' script is CPU-only and needs the Fashion-MNIST files, which the
device machine does not have; the step's time does not depend on the
pixel values, so this one uses random images in the model's range.

  python3 torch_cuda_step.py --model dcgan --batch 256 --steps 50
Prints one JSON line: median ms per step, samples/s, device name.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class MLPGen(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(100, 256), nn.Linear(256, 512)
        self.fc3, self.fc4 = nn.Linear(512, 1024), nn.Linear(1024, 784)

    def forward(self, z):
        h = F.relu(self.fc1(z))
        h = F.relu(self.fc2(h))
        h = F.relu(self.fc3(h))
        return torch.sigmoid(self.fc4(h)).view(-1, 1, 28, 28)


class MLPDisc(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 32, 3, 2), nn.Conv2d(32, 64, 3, 2)
        self.fc1, self.fc2 = nn.Linear(64 * 6 * 6, 1024), nn.Linear(1024, 1)

    def forward(self, x):
        h = F.relu(self.conv1(x))
        h = F.relu(self.conv2(h))
        h = F.relu(self.fc1(h.flatten(1)))
        return self.fc2(h)


class DCGen(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(100, 128 * 7 * 7, bias=False)
        self.bn0 = nn.BatchNorm1d(128 * 7 * 7)
        self.deconv1 = nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.deconv2 = nn.ConvTranspose2d(64, 1, 4, 2, 1)

    def forward(self, z):
        h = F.relu(self.bn0(self.fc(z))).view(-1, 128, 7, 7)
        h = F.relu(self.bn1(self.deconv1(h)))
        return torch.tanh(self.deconv2(h))


class DCDisc(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 64, 4, 2, 1)
        self.conv2 = nn.Conv2d(64, 128, 4, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(128)
        self.fc = nn.Linear(128 * 7 * 7, 1)

    def forward(self, x):
        h = F.leaky_relu(self.conv1(x), 0.2)
        h = F.leaky_relu(self.bn2(self.conv2(h)), 0.2)
        return self.fc(h.flatten(1))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", choices=["mlp", "gan", "dcgan"], default="dcgan")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--device", default="cuda", help="cuda, or cpu to try the script where there is no GPU")
    a = p.parse_args()
    dev = torch.device(a.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    torch.backends.cudnn.benchmark = True
    mlp = a.model in ("mlp", "gan")
    G, D = (MLPGen(), MLPDisc()) if mlp else (DCGen(), DCDisc())
    G, D = G.to(dev).train(), D.to(dev).train()
    opt = dict(lr=2e-4, betas=(0.5, 0.999), eps=1e-8)
    optG, optD = torch.optim.Adam(G.parameters(), **opt), torch.optim.Adam(D.parameters(), **opt)
    low = 0.0 if mlp else -1.0
    real = (torch.rand(a.batch, 1, 28, 28) * (1 - low) + low).to(dev)

    def step():
        z = torch.randn(a.batch, 100, device=dev)
        fake = G(z)
        optD.zero_grad(set_to_none=True)
        lr_, lf_ = D(real), D(fake.detach())
        lossD = F.binary_cross_entropy_with_logits(lr_, torch.ones_like(lr_)) + \
            F.binary_cross_entropy_with_logits(lf_, torch.zeros_like(lf_))
        lossD.backward()
        optD.step()
        optG.zero_grad(set_to_none=True)
        lg_ = D(fake)
        lossG = F.binary_cross_entropy_with_logits(lg_, torch.ones_like(lg_))
        lossG.backward()
        optG.step()
        # The progress line's scalars, read back every step as Atelier does.
        return lossD.item(), lossG.item(), torch.sigmoid(lr_).mean().item(), torch.sigmoid(lf_).mean().item()

    for _ in range(a.warmup):
        step()
    sync()
    times = []
    for _ in range(a.steps):
        t = time.perf_counter()
        step()
        sync()
        times.append((time.perf_counter() - t) * 1e3)
    ms = statistics.median(times)
    print(json.dumps({"framework": f"torch-{dev.type}", "model": a.model, "batch": a.batch, "median_ms": round(ms, 3),
                      "samples_per_s": round(a.batch / ms * 1e3, 1), "device": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu",
                      "torch": torch.__version__, "cudnn": torch.backends.cudnn.version() if dev.type == "cuda" else None}))


if __name__ == "__main__":
    main()
