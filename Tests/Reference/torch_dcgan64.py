"""The PyTorch reference of Atelier's 64x64 RGB DCGAN: pytorch/examples' dcgan/main.py
networks (nc 3, nz, ngf, ndf; no biases; BatchNorm in training mode) and training step,
with D's final Sigmoid + BCELoss written as BCEWithLogitsLoss (the same loss, stabler).

    ATELIER_DCGAN64_EXPORT=/tmp/dcgan64 swift test --filter dcgan64MatchesPyTorch
    python3 Tests/Reference/torch_dcgan64.py /tmp/dcgan64

The Swift test writes the canonical weights (its own seeded initialisation, in
named_parameters order), the real batches and the noise of three steps; this script
prints the three steps' [Loss_D, Loss_G] that the test holds as its reference.
"""
import json
import sys

import numpy as np
import torch
import torch.nn as nn

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)
folder = sys.argv[1]
meta = json.load(open(f"{folder}/meta.json"))
nz, ngf, ndf, nc, batch = meta["nz"], meta["ngf"], meta["ndf"], meta["nc"], meta["batch"]

netG = nn.Sequential(
    nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
    nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
    nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
    nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
    nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())
netD = nn.Sequential(
    nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
    nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
    nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, inplace=True),
    nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2, inplace=True),
    nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False))

weights = np.fromfile(f"{folder}/weights.f32", dtype=np.float32)
offset = 0
for net in (netG, netD):
    for _, p in net.named_parameters():
        n = p.numel()
        p.data.copy_(torch.from_numpy(weights[offset:offset + n].reshape(p.shape)))
        offset += n
assert offset == weights.size, (offset, weights.size)

real = torch.from_numpy(np.fromfile(f"{folder}/real.f32", dtype=np.float32).reshape(3, batch, nc, 64, 64))
noise = torch.from_numpy(np.fromfile(f"{folder}/noise.f32", dtype=np.float32).reshape(3, batch, nz, 1, 1))
criterion = nn.BCEWithLogitsLoss()
optD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
optG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
losses = []
for s in range(3):
    netD.zero_grad()
    errD_real = criterion(netD(real[s]).view(-1), torch.ones(batch))
    errD_real.backward()
    fake = netG(noise[s])
    errD_fake = criterion(netD(fake.detach()).view(-1), torch.zeros(batch))
    errD_fake.backward()
    optD.step()
    netG.zero_grad()
    errG = criterion(netD(fake).view(-1), torch.ones(batch))
    errG.backward()
    optG.step()
    losses.append([round((errD_real + errD_fake).item(), 6), round(errG.item(), 6)])
print(json.dumps({"torch": torch.__version__, "losses": losses}))
