#!/usr/bin/env python3
"""Writes the PyTorch reference files for tests/models/golden_test.cpp (needs torch).

    python3 tests/models/golden/make_golden.py [OUTPUT_DIR]   (default: this directory)
    python3 tests/models/golden/make_golden.py --full-mbf OUTPUT_DIR   (one-off full-size check)

For a tiny IResNet-18 and a tiny MobileFaceNet (every internal channel count / 32, embedding 8;
the same topology as r18 and mbf) built here in PyTorch from the architecture facts in
face_recognition.md section 4 (the networks of arcface_torch's backbones/iresnet.py and
backbones/mobilefacenet.py), it records, in float64:

    model.<key>       the state_dict before anything runs (arcface_torch's key names)
    eval.input        [2, 3, S, S];  eval.output: the eval-mode embeddings
    train.input       [3, 3, S, S];  train.output: the training-mode embeddings
    train.projection  [3, 8]: loss = sum(train.output * train.projection)
    grad.<param>      d loss / d parameter for every trainable parameter; grad.input: d loss / d input
    after.<buffer>    BatchNorm running statistics and counters after the training forward

BatchNorm statistics and affine parameters and the PReLU slopes are randomised and convs drawn
with std 1/sqrt(fan_in), so that no layer is an identity and activations stay O(1). The files are
written by tools/pt_to_safetensors.py's safetensors writer.
"""

import collections
import math
import os
import sys

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tools"))
import pt_to_safetensors as st  # noqa: E402

DIVISOR = 32
EMBEDDING = 8


def ch(reference):
    assert reference % DIVISOR == 0
    return reference // DIVISOR


# ---- IResNet ----------------------------------------------------------------------------------------


class IBasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin, eps=1e-5)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout, eps=1e-5)
        self.prelu = nn.PReLU(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout, eps=1e-5)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout, eps=1e-5))

    def forward(self, x):
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return out + (self.downsample(x) if self.downsample is not None else x)


class IResNet(nn.Module):
    def __init__(self, blocks, input_size):
        super().__init__()
        widths = [ch(64), ch(128), ch(256), ch(512)]
        self.conv1 = nn.Conv2d(3, ch(64), 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(ch(64), eps=1e-5)
        self.prelu = nn.PReLU(ch(64))
        cin = ch(64)
        for i, (width, n) in enumerate(zip(widths, blocks)):
            stage = [IBasicBlock(cin, width, 2)] + [IBasicBlock(width, width, 1) for _ in range(n - 1)]
            setattr(self, "layer%d" % (i + 1), nn.Sequential(*stage))
            cin = width
        self.bn2 = nn.BatchNorm2d(widths[3], eps=1e-5)
        self.dropout = nn.Dropout(p=0.0)
        side = input_size // 16
        self.fc = nn.Linear(widths[3] * side * side, EMBEDDING)
        self.features = nn.BatchNorm1d(EMBEDDING, eps=1e-5)
        nn.init.constant_(self.features.weight, 1.0)
        self.features.weight.requires_grad = False

    def forward(self, x):
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.dropout(torch.flatten(self.bn2(x), 1))
        return self.features(self.fc(x))


# ---- MobileFaceNet ------------------------------------------------------------------------------------


def conv_bn(cin, cout, kernel, stride, padding, groups, prelu):
    layers = [nn.Conv2d(cin, cout, kernel, stride, padding, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if prelu:
        layers.append(nn.PReLU(cout))
    return layers


class ConvBlock(nn.Module):  # conv -> BN -> PReLU, under .layers
    def __init__(self, cin, cout, kernel=1, stride=1, padding=0, groups=1):
        super().__init__()
        self.layers = nn.Sequential(*conv_bn(cin, cout, kernel, stride, padding, groups, prelu=True))

    def forward(self, x):
        return self.layers(x)


class LinearBlock(nn.Module):  # conv -> BN, under .layers
    def __init__(self, cin, cout, kernel=1, stride=1, padding=0, groups=1):
        super().__init__()
        self.layers = nn.Sequential(*conv_bn(cin, cout, kernel, stride, padding, groups, prelu=False))

    def forward(self, x):
        return self.layers(x)


class DepthWise(nn.Module):
    def __init__(self, cin, cout, groups, stride, residual):
        super().__init__()
        self.residual = residual
        self.layers = nn.Sequential(
            ConvBlock(cin, groups), ConvBlock(groups, groups, 3, stride, 1, groups), LinearBlock(groups, cout)
        )

    def forward(self, x):
        y = self.layers(x)
        return x + y if self.residual else y


class Residual(nn.Module):
    def __init__(self, c, n, groups):
        super().__init__()
        self.layers = nn.Sequential(*[DepthWise(c, c, groups, 1, True) for _ in range(n)])

    def forward(self, x):
        return self.layers(x)


class GDC(nn.Module):
    def __init__(self, c, kernel):
        super().__init__()
        self.layers = nn.Sequential(
            LinearBlock(c, c, kernel, 1, 0, c), nn.Flatten(), nn.Linear(c, EMBEDDING, bias=False), nn.BatchNorm1d(EMBEDDING)
        )

    def forward(self, x):
        return self.layers(x)


class MobileFaceNet(nn.Module):
    def __init__(self, blocks, scale, input_size):
        super().__init__()
        c1, c2 = ch(64 * scale), ch(128 * scale)
        self.layers = nn.ModuleList([ConvBlock(3, c1, 3, 2, 1)])
        if blocks[0] == 1:
            self.layers.append(ConvBlock(c1, c1, 3, 1, 1, ch(64)))
        else:
            self.layers.append(Residual(c1, blocks[0], ch(128)))
        self.layers.extend(
            [
                DepthWise(c1, c1, ch(128), 2, False),
                Residual(c1, blocks[1], ch(128)),
                DepthWise(c1, c2, ch(256), 2, False),
                Residual(c2, blocks[2], ch(256)),
                DepthWise(c2, c2, ch(512), 2, False),
                Residual(c2, blocks[3], ch(256)),
            ]
        )
        self.conv_sep = ConvBlock(c2, ch(512))
        self.features = GDC(ch(512), input_size // 16)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.features(self.conv_sep(x))


# ---- reference data -------------------------------------------------------------------------------------


def randomise(model, gen):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen, dtype=torch.float64) / math.sqrt(fan_in))
            elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=gen, dtype=torch.float64) * 0.2)
                m.running_var.copy_(0.5 + 1.5 * torch.rand(c, generator=gen, dtype=torch.float64))
                if m.weight.requires_grad:  # IResNet's features.weight stays 1
                    m.weight.copy_(0.5 + torch.rand(c, generator=gen, dtype=torch.float64))
                m.bias.copy_(torch.randn(c, generator=gen, dtype=torch.float64) * 0.2)
            elif isinstance(m, nn.PReLU):
                m.weight.copy_(0.1 + 0.3 * torch.rand(m.weight.shape, generator=gen, dtype=torch.float64))


def reference(model, input_size, seed):
    gen = torch.Generator().manual_seed(seed)
    model = model.double()
    randomise(model, gen)
    out = collections.OrderedDict()
    for k, v in model.state_dict().items():
        out["model." + k] = v.clone()

    model.eval()
    x_eval = torch.randn(2, 3, input_size, input_size, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        out["eval.input"], out["eval.output"] = x_eval, model(x_eval)

    model.train()
    x = torch.randn(3, 3, input_size, input_size, generator=gen, dtype=torch.float64, requires_grad=True)
    y = model(x)
    w = torch.randn(y.shape, generator=gen, dtype=torch.float64)
    (y * w).sum().backward()
    out["train.input"], out["train.output"], out["train.projection"] = x.detach(), y.detach(), w
    out["grad.input"] = x.grad
    for name, p in model.named_parameters():
        if p.requires_grad:
            out["grad." + name] = p.grad
    for name, b in model.named_buffers():
        out["after." + name] = b.clone()
    return out


def full_size_mbf(out_dir):
    """One-off, not committed (8 MB): the real mbf in float32, eval and training outputs only."""
    global DIVISOR, EMBEDDING
    DIVISOR, EMBEDDING = 1, 512
    gen = torch.Generator().manual_seed(3)
    model = MobileFaceNet((1, 4, 6, 2), 2, 112)
    out = collections.OrderedDict(("model." + k, v.clone()) for k, v in model.state_dict().items())
    model.eval()
    x = torch.randn(2, 3, 112, 112, generator=gen)
    with torch.no_grad():
        out["eval.input"], out["eval.output"] = x, model(x)
        model.train()
        out["train.output"] = model(x)
    path = os.path.join(out_dir, "mbf_full.safetensors")
    st.write_safetensors(path, st.state_dict_to_records(torch, out), {"input_size": "112"})
    print("%s: %d bytes" % (path, os.path.getsize(path)))


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    out_dir = args[0] if args else HERE
    torch.use_deterministic_algorithms(True)
    if "--full-mbf" in sys.argv:
        full_size_mbf(out_dir)
        return
    cases = [
        ("iresnet18_tiny", IResNet([2, 2, 2, 2], 16), 16, 1),
        ("mbf_tiny", MobileFaceNet((1, 4, 6, 2), 2, 32), 32, 2),
    ]
    for name, model, size, seed in cases:
        tensors = reference(model, size, seed)
        records = st.state_dict_to_records(torch, tensors)
        meta = collections.OrderedDict(
            [("generator", "tests/models/golden/make_golden.py"), ("torch", torch.__version__),
             ("width_divisor", str(DIVISOR)), ("input_size", str(size)), ("embedding_size", str(EMBEDDING))]
        )
        path = os.path.join(out_dir, name + ".safetensors")
        st.write_safetensors(path, records, meta)
        print("%s: %d tensors, %d bytes" % (path, len(records), os.path.getsize(path)))


if __name__ == "__main__":
    main()
