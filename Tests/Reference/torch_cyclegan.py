"""The PyTorch reference of Atelier's CycleGAN: the networks and training step of
../shared/peers/torch_i2i.py (junyanz's ResNet generators and PatchGANs with InstanceNorm,
LSGAN, cycle 10 x L1 each way, identity 0.5, G_A + G_B then D_A + D_B, Adam 2e-4 / 0.5), here at
32 px with ngf = ndf = 8, 2 residual blocks, 3 channels each way, batch 1 and the image pools
bypassed (as torch_i2i's --check).

    ATELIER_CYCLEGAN_EXPORT=/tmp/cg swift test --filter cycleganMatchesPyTorch
    python3 Tests/Reference/torch_cyclegan.py /tmp/cg [path/to/shared/peers]

The Swift test writes its weights (Atelier's seeded initialisation) and the inputs of three
steps; this script prints every term of the three steps and the step-0 gradient norm of each
network, which the test holds.
"""
import argparse
import json
import sys

import i2i_reference

folder = sys.argv[1]
peer = i2i_reference.import_peer("cyclegan", sys.argv[2] if len(sys.argv) > 2 else None)
import torch  # noqa: E402

meta = json.load(open(f"{folder}/meta.json"))
ngf, blocks = meta["ngf"], meta["blocks"]
norm = torch.nn.InstanceNorm2d
nets = {"G_A": peer.ResnetGenerator(3, 3, blocks, ngf=ngf, norm=norm, bias=True),
        "G_B": peer.ResnetGenerator(3, 3, blocks, ngf=ngf, norm=norm, bias=True),
        "D_A": peer.NLayerDiscriminator(3, ndf=ngf, norm=norm, bias=True),
        "D_B": peer.NLayerDiscriminator(3, ndf=ngf, norm=norm, bias=True)}
_, A, B = i2i_reference.load(folder, nets, 3, 3)
i2i_reference.run(peer.make_trainer(argparse.Namespace(model="cyclegan", pool=0, seed=0, identity=0.5), nets), nets, A, B)
