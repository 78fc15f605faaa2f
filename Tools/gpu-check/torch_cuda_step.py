#!/usr/bin/env python3
"""PyTorch on CUDA, for the GPU check: the training step of ../shared/peers
(torch_gan.py, whose models and step this copies: same layers, BCE with
logits, Adam lr 2e-4, betas (0.5, 0.999), D step then G step through the
updated D, the losses read back each step as Atelier does) moved to the GPU.
The peers' script is CPU-only and needs the Fashion-MNIST files, which the
device machine does not have; the step's time does not depend on the
pixel values, so this one uses random images in the model's range.

  python3 torch_cuda_step.py --model dcgan --batch 256 --steps 50
  python3 torch_cuda_step.py --model pix2pix --size 256 --batch 1
  python3 torch_cuda_step.py --model cyclegan --size 256 --batch 1
pix2pix is the step of ../shared/peers/torch_i2i.py (junyanz's U-Net and 70x70
PatchGAN with BatchNorm, dropout 0.5, vanilla GAN + 100 L1, D halved, then G
through the updated D), 3-channel images.
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


class UNetLevel(nn.Module):
    """junyanz's UnetSkipConnectionBlock; the skip carries leaky_relu(x) as its in-place LeakyReLU makes it."""

    def __init__(self, outer, inner, cin=None, sub=None, outermost=False, innermost=False, dropout=0.0):
        super().__init__()
        down = nn.Conv2d(cin or outer, inner, 4, 2, 1, bias=False)
        if outermost:
            layers = [down, sub, nn.ReLU(), nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1), nn.Tanh()]
        elif innermost:
            layers = [nn.LeakyReLU(0.2), down, nn.ReLU(), nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=False), nn.BatchNorm2d(outer)]
        else:
            layers = [nn.LeakyReLU(0.2), down, nn.BatchNorm2d(inner), sub, nn.ReLU(),
                      nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1, bias=False), nn.BatchNorm2d(outer)]
            layers += [nn.Dropout(dropout)] if dropout else []
        self.model, self.outermost = nn.Sequential(*layers), outermost

    def forward(self, x):
        if self.outermost:
            return self.model(x)
        h = self.model[0](x)
        return torch.cat([h, self.model[1:](h)], 1)


def unet(size, ngf=64):
    level = UNetLevel(ngf * 8, ngf * 8, innermost=True)
    for _ in range(size.bit_length() - 1 - 5):
        level = UNetLevel(ngf * 8, ngf * 8, sub=level, dropout=0.5)
    for m in (4, 2, 1):
        level = UNetLevel(ngf * m, ngf * m * 2, sub=level)
    return UNetLevel(3, ngf, cin=3, sub=level, outermost=True)


def patchgan(cin=6, ndf=64, instance=False):
    """junyanz's 70x70 PatchGAN: BatchNorm (convs without bias) for pix2pix, InstanceNorm (with) for CycleGAN."""
    norm = (lambda c: nn.InstanceNorm2d(c)) if instance else (lambda c: nn.BatchNorm2d(c))
    layers = [nn.Conv2d(cin, ndf, 4, 2, 1), nn.LeakyReLU(0.2)]
    width = ndf
    for n in (1, 2, 3):
        nxt = ndf * min(2 ** n, 8)
        layers += [nn.Conv2d(width, nxt, 4, 2 if n < 3 else 1, 1, bias=instance), norm(nxt), nn.LeakyReLU(0.2)]
        width = nxt
    return nn.Sequential(*layers, nn.Conv2d(width, 1, 4, 1, 1))


class ResnetBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.conv_block = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim), nn.ReLU(True),
                                        nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim))

    def forward(self, x):
        return x + self.conv_block(x)


def resnet_generator(blocks, ngf=64):
    """junyanz's ResnetGenerator with InstanceNorm (convs with bias), reflection padding."""
    layers = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7), nn.InstanceNorm2d(ngf), nn.ReLU(True)]
    for m in (1, 2):
        layers += [nn.Conv2d(ngf * m, ngf * m * 2, 3, 2, 1), nn.InstanceNorm2d(ngf * m * 2), nn.ReLU(True)]
    layers += [ResnetBlock(ngf * 4) for _ in range(blocks)]
    for m in (4, 2):
        layers += [nn.ConvTranspose2d(ngf * m, ngf * m // 2, 3, 2, 1, output_padding=1), nn.InstanceNorm2d(ngf * m // 2), nn.ReLU(True)]
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
    return nn.Sequential(*layers)


def cyclegan_step(a, dev, opt):
    """junyanz's CycleGAN iteration: both generators' step (LSGAN, cycle x10, identity x0.5), then D_A's and
    D_B's on the same fakes; the image pools (a copy each) are left out."""
    blocks = 9 if a.size >= 256 else 6
    GA, GB = resnet_generator(blocks).to(dev).train(), resnet_generator(blocks).to(dev).train()
    DA, DB = patchgan(3, instance=True).to(dev).train(), patchgan(3, instance=True).to(dev).train()
    optG = torch.optim.Adam(list(GA.parameters()) + list(GB.parameters()), **opt)
    optD = torch.optim.Adam(list(DA.parameters()) + list(DB.parameters()), **opt)
    A = (torch.rand(a.batch, 3, a.size, a.size) * 2 - 1).to(dev)
    B = (torch.rand(a.batch, 3, a.size, a.size) * 2 - 1).to(dev)

    def mse(x, target):
        return F.mse_loss(x, torch.full_like(x, target))

    def step():
        fake_b, fake_a = GA(A), GB(B)
        rec_a, rec_b = GB(fake_b), GA(fake_a)
        for p in list(DA.parameters()) + list(DB.parameters()):
            p.requires_grad_(False)
        optG.zero_grad(set_to_none=True)
        idt_a, idt_b = F.l1_loss(GA(B), B) * 5, F.l1_loss(GB(A), A) * 5
        g_a, g_b = mse(DA(fake_b), 1.0), mse(DB(fake_a), 1.0)
        cycle_a, cycle_b = F.l1_loss(rec_a, A) * 10, F.l1_loss(rec_b, B) * 10
        loss_g = g_a + g_b + cycle_a + cycle_b + idt_a + idt_b
        loss_g.backward()
        optG.step()
        for p in list(DA.parameters()) + list(DB.parameters()):
            p.requires_grad_(True)
        optD.zero_grad(set_to_none=True)
        d_a = 0.5 * (mse(DA(B), 1.0) + mse(DA(fake_b.detach()), 0.0))
        d_b = 0.5 * (mse(DB(A), 1.0) + mse(DB(fake_a.detach()), 0.0))
        (d_a + d_b).backward()
        optD.step()
        # Every term, read back every step as Atelier does.
        return torch.stack([loss_g, d_a + d_b, g_a, g_b, cycle_a, cycle_b, idt_a, idt_b, d_a, d_b]).tolist()
    return step


def pix2pix_step(a, dev, opt):
    G, D = unet(a.size).to(dev).train(), patchgan().to(dev).train()
    optG, optD = torch.optim.Adam(G.parameters(), **opt), torch.optim.Adam(D.parameters(), **opt)
    A = (torch.rand(a.batch, 3, a.size, a.size) * 2 - 1).to(dev)
    B = (torch.rand(a.batch, 3, a.size, a.size) * 2 - 1).to(dev)

    def bce(x, target):
        return F.binary_cross_entropy_with_logits(x, torch.full_like(x, target))

    def step():
        fake = G(A)
        optD.zero_grad(set_to_none=True)
        d_fake, d_real = bce(D(torch.cat((A, fake.detach()), 1)), 0.0), bce(D(torch.cat((A, B), 1)), 1.0)
        lossD = 0.5 * (d_fake + d_real)
        lossD.backward()
        optD.step()
        for p in D.parameters():
            p.requires_grad_(False)
        optG.zero_grad(set_to_none=True)
        g_gan, g_l1 = bce(D(torch.cat((A, fake), 1)), 1.0), F.l1_loss(fake, B) * 100
        (g_gan + g_l1).backward()
        optG.step()
        for p in D.parameters():
            p.requires_grad_(True)
        # Every term, read back every step as Atelier does.
        return torch.stack([lossD, g_gan + g_l1, d_fake, d_real, g_gan, g_l1]).tolist()
    return step


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", choices=["mlp", "gan", "dcgan", "pix2pix", "cyclegan"], default="dcgan")
    p.add_argument("--size", type=int, default=256, help="pix2pix and cyclegan: image side")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--device", default="cuda", help="cuda, or cpu to try the script where there is no GPU")
    a = p.parse_args()
    dev = torch.device(a.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    torch.backends.cudnn.benchmark = True
    opt = dict(lr=2e-4, betas=(0.5, 0.999), eps=1e-8)
    if a.model == "pix2pix":
        step = pix2pix_step(a, dev, opt)
    elif a.model == "cyclegan":
        step = cyclegan_step(a, dev, opt)
    else:
        step = gan_step(a, dev, opt)
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
    print(json.dumps({"framework": f"torch-{dev.type}", "model": a.model, "batch": a.batch, "size": a.size if a.model in ("pix2pix", "cyclegan") else 28,
                      "median_ms": round(ms, 3),
                      "samples_per_s": round(a.batch / ms * 1e3, 1), "device": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu",
                      "torch": torch.__version__, "cudnn": torch.backends.cudnn.version() if dev.type == "cuda" else None}))


def gan_step(a, dev, opt):
    mlp = a.model in ("mlp", "gan")
    G, D = (MLPGen(), MLPDisc()) if mlp else (DCGen(), DCDisc())
    G, D = G.to(dev).train(), D.to(dev).train()
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
    return step


if __name__ == "__main__":
    main()
