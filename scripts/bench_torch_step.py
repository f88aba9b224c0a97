#!/usr/bin/env python3
"""The training step of `build/apps/bench --only train`, timed in PyTorch on the same machine.

    python3 scripts/bench_torch_step.py --network r100,mbf --precision fp32,fp16,bf16 \
        --batch 128 --classes 93431 --warmup 3 --iters 10 [--device cuda|cpu]

One step, as arcface_torch's train_v2.py on one GPU (world size 1, Partial FC sample rate 1):
images [B, 3, 112, 112] -> backbone (body under autocast in fp16/bf16, head in float32) ->
embeddings [B, 512] -> cosine logits against all class centres in float32 -> ArcFace margin
(s = 64, m = 0.5) -> softmax cross-entropy -> (fp16: GradScaler) backward -> unscale ->
clip_grad_norm_(backbone, 5) -> SGD(lr 0.1, momentum 0.9, weight decay 5e-4) over backbone and
centres -> zero_grad. cudnn.benchmark = True, channels_last off. Inputs are made once on the device.

The networks are written here from the architecture facts in shared/reference/face_recognition.md
section 4; their parameter counts are asserted against the ones listed there (and their MACs,
counted by ptflops' rules, against docs/models.md). The printed table has the columns of the
FaceFlow one (apps/bench/train_step_bench.h): scripts/gpu_check.sh reads both by position.
Peak memory is torch.cuda.max_memory_allocated / max_memory_reserved, reset after the warm-up.

Without PyTorch, or without CUDA when --device cuda is asked for, it prints why and exits 0.
--device cpu runs the same step on the CPU (for checking this script on a machine without a GPU;
use a tiny --batch there).
"""
import argparse
import statistics
import sys
import time

EXPECTED_PARAMS = {"r100": 65_156_160, "mbf": 2_059_520}  # face_recognition.md 4.3
EXPECTED_GMACS = {"r100": 12.1222, "mbf": 0.4488}          # docs/models.md (ptflops rule)
BN_EPS = 1e-5
SCALE, MARGIN = 64.0, 0.5                                  # ArcFace, arcface_torch train_v2.py
PRECISIONS = ("fp32", "fp16", "bf16")
MAX_SCALE_SEARCH_STEPS = 16


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--network", default="r100,mbf")
    p.add_argument("--precision", default="fp32,fp16,bf16")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--classes", type=int, default=93431)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--device", default="cuda")
    a = p.parse_args()
    a.network = [n for n in a.network.split(",") if n]
    a.precision = [n for n in a.precision.split(",") if n]
    for n in a.network:
        if n not in EXPECTED_PARAMS:
            p.error(f"unknown network {n!r}: expected one of {', '.join(EXPECTED_PARAMS)}")
    for n in a.precision:
        if n not in PRECISIONS:
            p.error(f"unknown precision {n!r}: expected one of {', '.join(PRECISIONS)}")
    if a.batch < 2 or a.classes < 1 or a.iters < 1 or a.warmup < 0:
        p.error("need --batch >= 2, --classes >= 1, --iters >= 1, --warmup >= 0")
    return a


def build_networks(torch):
    """IResNet100 and MobileFaceNet (scale 2), defined from the reference's layer lists."""
    nn = torch.nn

    def bn(c):
        return nn.BatchNorm2d(c, eps=BN_EPS)

    def conv3x3(cin, cout, stride=1):
        return nn.Conv2d(cin, cout, 3, stride, 1, bias=False)

    class IBlock(nn.Module):
        # BN -> conv3x3 -> BN -> PReLU -> conv3x3 (the stage's stride) -> BN, plus the shortcut;
        # no activation after the addition.
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.body = nn.Sequential(bn(cin), conv3x3(cin, cout), bn(cout), nn.PReLU(cout),
                                      conv3x3(cout, cout, stride), bn(cout))
            self.shortcut = None
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), bn(cout))

        def forward(self, x):
            return self.body(x) + (x if self.shortcut is None else self.shortcut(x))

    class IResNet(nn.Module):
        head_in_float32 = True

        def __init__(self, blocks, embedding=512):
            super().__init__()
            layers = [conv3x3(3, 64), bn(64), nn.PReLU(64)]
            cin = 64
            for cout, n in zip((64, 128, 256, 512), blocks):
                for i in range(n):
                    layers.append(IBlock(cin, cout, 2 if i == 0 else 1))
                    cin = cout
            layers.append(bn(512))
            self.body = nn.Sequential(*layers)
            self.fc = nn.Linear(512 * 7 * 7, embedding)  # dropout p = 0 in train_v2: omitted
            self.features = nn.BatchNorm1d(embedding, eps=BN_EPS)
            nn.init.constant_(self.features.weight, 1.0)
            self.features.weight.requires_grad = False
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.normal_(m.weight, 0, 0.1)

        def head(self, x):
            return self.features(self.fc(torch.flatten(x, 1)))

    def conv_block(cin, cout, k=1, stride=1, padding=0, groups=1, act=True):
        layers = [nn.Conv2d(cin, cout, k, stride, padding, groups=groups, bias=False), bn(cout)]
        return nn.Sequential(*layers, nn.PReLU(cout)) if act else nn.Sequential(*layers)

    class DepthWise(nn.Module):
        # 1x1 cin->g, 3x3 depthwise g (stride), linear 1x1 g->cout; residual when asked.
        def __init__(self, cin, cout, groups, stride, residual):
            super().__init__()
            self.residual = residual
            self.body = nn.Sequential(conv_block(cin, groups), conv_block(groups, groups, 3, stride, 1, groups),
                                      conv_block(groups, cout, act=False))

        def forward(self, x):
            return x + self.body(x) if self.residual else self.body(x)

    class MobileFaceNet(nn.Module):
        def __init__(self, blocks=(1, 4, 6, 2), scale=2, embedding=512):
            super().__init__()
            c1, c2 = 64 * scale, 128 * scale
            layers = [conv_block(3, c1, 3, 2, 1)]
            if blocks[0] == 1:
                layers.append(conv_block(c1, c1, 3, 1, 1, groups=64))
            else:
                layers += [DepthWise(c1, c1, 64, 1, True) for _ in range(blocks[0])]
            layers.append(DepthWise(c1, c1, 128, 2, False))
            layers += [DepthWise(c1, c1, 128, 1, True) for _ in range(blocks[1])]
            layers.append(DepthWise(c1, c2, 256, 2, False))
            layers += [DepthWise(c2, c2, 256, 1, True) for _ in range(blocks[2])]
            layers.append(DepthWise(c2, c2, 512, 2, False))
            layers += [DepthWise(c2, c2, 256, 1, True) for _ in range(blocks[3])]
            self.body = nn.Sequential(*layers)
            self.conv_sep = conv_block(c2, 512)
            self.gdc = conv_block(512, 512, 7, 1, 0, groups=512, act=False)
            self.fc = nn.Linear(512, embedding, bias=False)
            self.features = nn.BatchNorm1d(embedding, eps=BN_EPS)
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

        def head(self, x):  # conv_sep and GDC stay float32, as in arcface_torch
            return self.features(self.fc(torch.flatten(self.gdc(self.conv_sep(x)), 1)))

    return {"r100": lambda: IResNet((3, 13, 30, 3)), "mbf": lambda: MobileFaceNet()}


def count_macs(torch, model, device):
    """ptflops' rule (what arcface_torch's README calls GFLOPs): conv, linear, affine BN x2, PReLU."""
    nn = torch.nn
    total = [0]

    def hook(m, inputs, out):
        x = inputs[0]
        if isinstance(m, nn.Conv2d):
            total[0] += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
            total[0] += out.numel() if m.bias is not None else 0
        elif isinstance(m, nn.Linear):
            total[0] += x.numel() * m.out_features + (m.out_features if m.bias is not None else 0)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            total[0] += x.numel() * (2 if m.affine else 1)
        elif isinstance(m, nn.PReLU):
            total[0] += out.numel()

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    model.eval()
    with torch.no_grad():
        model.head(model.body(torch.zeros(1, 3, 112, 112, device=device)))
    model.train()
    for h in handles:
        h.remove()
    return total[0]


def bench_one(torch, make_network, name, precision, args, device):
    F = torch.nn.functional
    amp_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision)
    model = make_network().to(device)
    params = sum(p.numel() for p in model.parameters())
    assert params == EXPECTED_PARAMS[name], f"{name}: {params} parameters, the reference has {EXPECTED_PARAMS[name]}"
    macs = count_macs(torch, model, device)
    assert abs(macs / 1e9 - EXPECTED_GMACS[name]) < 1e-3, f"{name}: {macs / 1e9:.4f} GMACs, expected {EXPECTED_GMACS[name]}"

    centres = torch.nn.Parameter(torch.empty(args.classes, 512, device=device).normal_(0, 0.01))
    opt = torch.optim.SGD([{"params": model.parameters()}, {"params": [centres]}], lr=0.1, momentum=0.9,
                          weight_decay=5e-4)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    gen = torch.Generator(device=device).manual_seed(2048)
    images = torch.randn(args.batch, 3, 112, 112, device=device, generator=gen)
    labels = torch.tensor([(i * 7919 + 13) % args.classes for i in range(args.batch)], device=device)
    rows = torch.arange(args.batch, device=device)

    def step():
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            x = model.body(images)
        emb = model.head(x.float())
        cos = F.linear(F.normalize(emb), F.normalize(centres)).clamp(-1, 1)  # [B, C] float32
        target = cos[rows, labels].clamp(-1 + 1e-7, 1 - 1e-7)
        logits = cos.index_put((rows, labels), torch.cos(torch.acos(target) + MARGIN)) * SCALE
        loss = F.cross_entropy(logits, labels)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        scale = scaler.get_scale()
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)
        return loss.detach(), scaler.get_scale() < scale  # a lowered scale: the step was skipped

    cuda = device.type == "cuda"
    skipped = False
    for _ in range(args.warmup):
        skipped = step()[1]
    # fp16: the GradScaler starts at 2^16 and halves on every overflowing step, skipping it; warm
    # up until a step updates (at most 16 more) so the timed steps are real updates, as in a long
    # run. apps/bench/train_step_bench.cpp does the same.
    for _ in range(MAX_SCALE_SEARCH_STEPS):
        if not skipped:
            break
        skipped = step()[1]
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(args.iters)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(args.iters)]
    host_ms = []
    skipped = 0
    wall0 = time.perf_counter()
    for i in range(args.iters):
        t0 = time.perf_counter()
        if cuda:
            starts[i].record()
        loss, was_skipped = step()
        skipped += was_skipped
        if cuda:
            ends[i].record()
        host_ms.append((time.perf_counter() - t0) * 1e3)
    if cuda:
        torch.cuda.synchronize(device)
    wall_ms = (time.perf_counter() - wall0) * 1e3 / args.iters
    ms = [s.elapsed_time(e) for s, e in zip(starts, ends)] if cuda else host_ms
    median = statistics.median(ms)
    images_per_s = args.batch / (median / 1e3)
    tflops = 3 * 2 * macs * images_per_s / 1e12
    if cuda:
        peak = f"{torch.cuda.max_memory_allocated(device) / 2**20:.0f}"
        reserved = f"{torch.cuda.max_memory_reserved(device) / 2**20:.0f}"
    else:
        peak = reserved = "n/a"
    last = loss.item()
    assert last == last and abs(last) != float("inf"), f"{name} {precision}: the last loss is {last}"
    loss_text = f"{last:.4f}" + (f" ({skipped} skipped)" if skipped else "")
    return (f"| pytorch | {name} | {precision} | {args.batch} | {median:.2f} | {images_per_s:.1f} | {wall_ms:.2f} | "
            f"{tflops:.2f} | {peak} | {reserved} | {loss_text} |")


def main():
    args = parse_args()
    try:
        import torch
    except ImportError as e:
        print(f"bench_torch_step: skipped: PyTorch is not installed ({e})")
        return 0
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"bench_torch_step: skipped: PyTorch {torch.__version__} sees no CUDA device")
        return 0
    torch.backends.cudnn.benchmark = True
    # arcface_torch leaves TF32 at PyTorch's defaults: cuDNN convolutions use it, matmuls do not.
    networks = build_networks(torch)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"# PyTorch {torch.__version__} training-step benchmark\n")
    print(f"## Training step on {device} ({where}): backbone + full FC ({args.classes} classes, ArcFace) + "
          f"clip 5 + SGD\n")
    print(f"median of {args.iters} timed steps after {args.warmup} warm-up steps; peak memory from "
          f"torch.cuda.max_memory_*, reset after the warm-up.\n")
    print("| framework | network | precision | batch | ms/step (median) | images/s | wall ms/step | TFLOP/s | "
          "peak allocated MiB | peak reserved MiB | last loss |")
    print("|---|---|---|---|---|---|---|---|---|---|---|", flush=True)
    failures = 0
    for name in args.network:
        for precision in args.precision:
            if device.type == "cuda":
                torch.cuda.empty_cache()
            try:
                print(bench_one(torch, networks[name], name, precision, args, device), flush=True)
            except Exception as e:  # one configuration failing (OOM, say) must not hide the others
                failures += 1
                what = str(e).replace("\n", " ").replace("|", "/")[:300]
                print(f"| pytorch | {name} | {precision} | {args.batch} | FAILED: {what} | | | | | | |", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
