"""Atelier's GAN networks in PyTorch, with the state_dict names `atelier export` writes.

    import atelier_nets, safetensors.torch
    G = atelier_nets.generator("dcgan", image_size=64, channels=3)
    G.load_state_dict(safetensors.torch.load_file("G.safetensors"), strict=True)

- gan (the reference article's MLP GAN) and dcgan/cdcgan at 28 px: an nn.Sequential of the same
  layers as Atelier's ("0.weight", ...); G takes z [N, nz] (cdcgan: z and the one-hot class, side
  by side), D an image [N, C, S, S] (cdcgan: with the one-hot class as k constant planes beside it).
- dcgan/cdcgan at 32 px and up: pytorch/examples' DCGAN Generator and Discriminator ("main.N");
  G takes z as [N, nz(+k), 1, 1], D ends in a sigmoid as there (Atelier's D gives the logit).
- D of a run trained with --spectral-norm: `discriminator(..., spectral_norm=True)` wraps each
  convolution and linear layer in torch.nn.utils.spectral_norm ("N.weight_orig", "N.weight_u",
  "N.weight_v", as Atelier exports them).
- pix2pix and CycleGAN: junyanz/pytorch-CycleGAN-and-pix2pix's own networks (networks.define_G /
  define_D); the names are theirs, nothing here is needed.
"""
import torch.nn as nn


def _sizes(image_size):
    after = ((image_size - 3) // 2 + 1 - 3) // 2 + 1  # two 3x3 stride-2 convolutions
    return after


def generator(model, image_size=28, channels=1, nz=100, ngf=64, classes=0):
    k = classes if model == "cdcgan" else 0
    c, s = channels, image_size
    if model == "gan":
        return nn.Sequential(nn.Linear(nz, 256), nn.ReLU(), nn.Linear(256, 512), nn.ReLU(),
                             nn.Linear(512, 1024), nn.ReLU(), nn.Linear(1024, c * s * s), nn.Sigmoid(),
                             nn.Unflatten(1, (c, s, s)))
    if s == 28:
        g1, g2 = ngf * 2, ngf
        return nn.Sequential(nn.Linear(nz + k, g1 * 49, bias=False), nn.BatchNorm1d(g1 * 49), nn.ReLU(),
                             nn.Unflatten(1, (g1, 7, 7)),
                             nn.ConvTranspose2d(g1, g2, 4, 2, 1, bias=False), nn.BatchNorm2d(g2), nn.ReLU(),
                             nn.ConvTranspose2d(g2, c, 4, 2, 1), nn.Tanh())
    return ExamplesGenerator(nz + k, ngf, c, s)


def discriminator(model, image_size=28, channels=1, ndf=64, classes=0, spectral_norm=False):
    D = _discriminator(model, image_size, channels, ndf, classes)
    if spectral_norm:
        for parent in list(D.modules()):
            for name, child in parent.named_children():
                if isinstance(child, (nn.Conv2d, nn.Linear)):
                    setattr(parent, name, nn.utils.spectral_norm(child))
    return D


def _discriminator(model, image_size, channels, ndf, classes):
    k = classes if model == "cdcgan" else 0
    c, s = channels, image_size
    if model == "gan":
        a = _sizes(s)
        return nn.Sequential(nn.Conv2d(c, 32, 3, 2), nn.ReLU(), nn.Conv2d(32, 64, 3, 2), nn.ReLU(), nn.Flatten(),
                             nn.Linear(64 * a * a, 1024), nn.ReLU(), nn.Linear(1024, 1))
    if s == 28:
        d1, d2 = ndf, ndf * 2
        return nn.Sequential(nn.Conv2d(c + k, d1, 4, 2, 1), nn.LeakyReLU(0.2),
                             nn.Conv2d(d1, d2, 4, 2, 1, bias=False), nn.BatchNorm2d(d2), nn.LeakyReLU(0.2),
                             nn.Flatten(), nn.Linear(d2 * 49, 1))
    return ExamplesDiscriminator(c + k, ndf, s)


class ExamplesGenerator(nn.Module):
    """pytorch/examples' dcgan Generator, for any power-of-two size from 16 (64: theirs exactly)."""

    def __init__(self, nz, ngf, nc, size):
        super().__init__()
        levels = size.bit_length() - 1 - 2
        width = ngf << (levels - 1)
        layers = [nn.ConvTranspose2d(nz, width, 4, 1, 0, bias=False), nn.BatchNorm2d(width), nn.ReLU(True)]
        for _ in range(1, levels):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width // 2), nn.ReLU(True)]
            width //= 2
        layers += [nn.ConvTranspose2d(width, nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z):
        return self.main(z.view(z.shape[0], -1, 1, 1))


class ExamplesDiscriminator(nn.Module):
    """pytorch/examples' dcgan Discriminator, for any power-of-two size from 16."""

    def __init__(self, nc, ndf, size):
        super().__init__()
        levels = size.bit_length() - 1 - 2
        layers = [nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
        width = ndf
        for _ in range(1, levels):
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width * 2), nn.LeakyReLU(0.2, inplace=True)]
            width *= 2
        layers += [nn.Conv2d(width, 1, 4, 1, 0, bias=False), nn.Sigmoid()]
        self.main = nn.Sequential(*layers)

    def forward(self, x):
        return self.main(x).view(-1, 1).squeeze(1)
