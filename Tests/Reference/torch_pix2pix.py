"""The PyTorch reference of Atelier's pix2pix: the networks and training step of
../shared/peers/torch_i2i.py (junyanz's U-Net and PatchGAN, BatchNorm in training mode,
vanilla GAN loss + 100 x L1, D halved, Adam 2e-4 / 0.5), here at 32 px with ngf = ndf = 8,
3 input and 1 output channels, batch 2 and dropout off.

    ATELIER_PIX2PIX_EXPORT=/tmp/p2p swift test --filter pix2pixMatchesPyTorch
    python3 Tests/Reference/torch_pix2pix.py /tmp/p2p [path/to/shared/peers]

The Swift test writes its weights (Atelier's seeded initialisation) and the inputs of three
steps; this script prints every term of the three steps and the step-0 gradient norm of each
network, which the test holds.
"""
import argparse
import json
import sys

import i2i_reference

folder = sys.argv[1]
peer = i2i_reference.import_peer("pix2pix", sys.argv[2] if len(sys.argv) > 2 else None)
import numpy as np  # noqa: E402
import torch  # noqa: E402

meta = json.load(open(f"{folder}/meta.json"))
size, cin, cout, ngf = meta["size"], meta["in"], meta["out"], meta["ngf"]
nets = {"G": peer.UnetGenerator(cin, cout, int(np.log2(size)), ngf=ngf, norm=torch.nn.BatchNorm2d, bias=False, dropout=0.0),
        "D": peer.NLayerDiscriminator(cin + cout, ndf=ngf, norm=torch.nn.BatchNorm2d, bias=False)}
_, A, B = i2i_reference.load(folder, nets, cin, cout)
i2i_reference.run(peer.make_trainer(argparse.Namespace(model="pix2pix", pool=0, seed=0), nets), nets, A, B)
