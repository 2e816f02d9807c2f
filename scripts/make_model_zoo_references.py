# SPDX-License-Identifier: Apache-2.0
"""Makes tests/data/reference/model_zoo.json: the parameter counts of the model-zoo networks of
model_zoo/{nin,googlenet,resnet,densenet,mobilenet}.hpp, counted on PyTorch modules written
here, layer by layer, after Gluon's model zoo (mxnet/gluon/model_zoo/vision/*.py, MXNet 1.x) and
d2l's Gluon chapters on NiN and GoogLeNet.  tests/model_zoo/test_<model>.cpp compare gluino's
counts with these.

    /usr/bin/python3 scripts/make_model_zoo_references.py [OUT_FILE]

Needs Debian's python3-torch (1.13): run it with /usr/bin/python3.  CI has no PyTorch: the JSON
is committed; rerun this script rather than editing it.  Nothing is downloaded (torchvision is
not installed here): the networks are built from torch.nn layers.

Counts, as Gluon's collect_params() counts them: "total" is every parameter element, BatchNorm's
running mean and variance included (Gluon's Parameters; torch's buffers, without
num_batches_tracked); "trainable" leaves out those and the parameters Gluon gives grad_req
'null' (BatchNorm(scale=False, center=False)'s gamma and beta at the input of ResNet V2).  For
the networks torchvision has, the trainable count is checked here against torchvision's
published count where the architectures agree (resnet18/34 v1, densenet121) or differs by what
Gluon's layer list adds (resnet50_v1: the biases of BottleneckV1's two 1x1 convolutions;
mobilenet_v2: the first bottleneck's expansion convolution that Gluon keeps with t = 1, and no
bias on the output convolution); MobileNet v1 against the paper's 4.2 million (Keras: 4,231,976
trainable).

Format: {"made_with": ..., "cases": [{"model", "options", "input", "output_shape", "total",
"trainable"}]}: the output shape of a forward of a zero batch of the given input shape.

It also makes tests/data/reference/model_zoo_numbers.json (second argument): each network of
NUMERIC, in double, with every parameter set by fill() below (a formula of the parameter's
place in Gluon's collect_params order, its role and its element index, which the C++ test
computes the same way), run in predict mode (BatchNorm on its running statistics, Dropout off)
on a fixed input: the logits, and the gradient of the summed softmax cross-entropy (labels 0, 1,
...) with respect to each trainable parameter, reduced to one number per parameter (the sum of
grad * cos(0.21 i)).  {"made_with", "cases": [{"model", "options", "input", "params": [{"shape",
"role", "trainable"}], "logits": {"shape", "data"}, "grad_sums": [...]}]}.
"""

import json
import platform
import sys
from pathlib import Path

import torch
from torch import nn


class BN(nn.BatchNorm2d):
    """Gluon's BatchNorm: gamma, beta, running_mean and running_var all count as parameters."""

    def __init__(self, c, frozen=False):
        super().__init__(c)
        if frozen:  # BatchNorm(scale=False, center=False): gamma and beta have grad_req 'null'
            self.weight.requires_grad_(False)
            self.bias.requires_grad_(False)


def conv(cin, cout, k, s=1, p=0, bias=True, groups=1):
    return nn.Conv2d(cin, cout, k, s, p, bias=bias, groups=groups)


# --- d2l's NiN (Gluon edition) ---------------------------------------------------------------
def nin_block(cin, c, k, s, p):
    return nn.Sequential(conv(cin, c, k, s, p), nn.ReLU(), conv(c, c, 1), nn.ReLU(), conv(c, c, 1), nn.ReLU())


def nin(classes=10, cin=1):
    return nn.Sequential(nin_block(cin, 96, 11, 4, 0), nn.MaxPool2d(3, 2), nin_block(96, 256, 5, 1, 2),
                         nn.MaxPool2d(3, 2), nin_block(256, 384, 3, 1, 1), nn.MaxPool2d(3, 2), nn.Dropout(0.5),
                         nin_block(384, classes, 3, 1, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten())


# --- d2l's GoogLeNet (Gluon edition) ---------------------------------------------------------
class Inception(nn.Module):
    def __init__(self, cin, c1, c2, c3, c4):
        super().__init__()
        self.p1 = nn.Sequential(conv(cin, c1, 1), nn.ReLU())
        self.p2 = nn.Sequential(conv(cin, c2[0], 1), nn.ReLU(), conv(c2[0], c2[1], 3, p=1), nn.ReLU())
        self.p3 = nn.Sequential(conv(cin, c3[0], 1), nn.ReLU(), conv(c3[0], c3[1], 5, p=2), nn.ReLU())
        self.p4 = nn.Sequential(nn.MaxPool2d(3, 1, 1), conv(cin, c4, 1), nn.ReLU())
        self.out = c1 + c2[1] + c3[1] + c4

    def forward(self, x):
        return torch.cat([self.p1(x), self.p2(x), self.p3(x), self.p4(x)], 1)


def googlenet(classes=10, cin=1):
    layers = [conv(cin, 64, 7, 2, 3), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
              conv(64, 64, 1), nn.ReLU(), conv(64, 192, 3, p=1), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    c = 192
    for spec in [(64, (96, 128), (16, 32), 32), (128, (128, 192), (32, 96), 64), None,
                 (192, (96, 208), (16, 48), 64), (160, (112, 224), (24, 64), 64), (128, (128, 256), (24, 64), 64),
                 (112, (144, 288), (32, 64), 64), (256, (160, 320), (32, 128), 128), None,
                 (256, (160, 320), (32, 128), 128), (384, (192, 384), (48, 128), 128)]:
        if spec is None:
            layers.append(nn.MaxPool2d(3, 2, 1))
        else:
            block = Inception(c, *spec)
            layers.append(block)
            c = block.out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, classes)]
    return nn.Sequential(*layers)


# --- Gluon's ResNet V1 and V2 ----------------------------------------------------------------
class BasicV1(nn.Module):
    def __init__(self, cin, c, s, down):
        super().__init__()
        self.body = nn.Sequential(conv(cin, c, 3, s, 1, False), BN(c), nn.ReLU(), conv(c, c, 3, 1, 1, False), BN(c))
        self.down = nn.Sequential(conv(cin, c, 1, s, bias=False), BN(c)) if down else None

    def forward(self, x):
        return torch.relu(self.body(x) + (self.down(x) if self.down else x))


class BottleV1(nn.Module):
    def __init__(self, cin, c, s, down):
        super().__init__()
        m = c // 4
        self.body = nn.Sequential(conv(cin, m, 1, s), BN(m), nn.ReLU(), conv(m, m, 3, 1, 1, False), BN(m), nn.ReLU(),
                                  conv(m, c, 1), BN(c))
        self.down = nn.Sequential(conv(cin, c, 1, s, bias=False), BN(c)) if down else None

    def forward(self, x):
        return torch.relu(self.body(x) + (self.down(x) if self.down else x))


class BasicV2(nn.Module):
    def __init__(self, cin, c, s, down):
        super().__init__()
        self.bn1, self.conv1 = BN(cin), conv(cin, c, 3, s, 1, False)
        self.bn2, self.conv2 = BN(c), conv(c, c, 3, 1, 1, False)
        self.down = conv(cin, c, 1, s, bias=False) if down else None

    def forward(self, x):
        h = torch.relu(self.bn1(x))
        r = self.down(h) if self.down else x
        return self.conv2(torch.relu(self.bn2(self.conv1(h)))) + r


class BottleV2(nn.Module):
    def __init__(self, cin, c, s, down):
        super().__init__()
        m = c // 4
        self.bn1, self.conv1 = BN(cin), conv(cin, m, 1, bias=False)
        self.bn2, self.conv2 = BN(m), conv(m, m, 3, s, 1, False)
        self.bn3, self.conv3 = BN(m), conv(m, c, 1, bias=False)
        self.down = conv(cin, c, 1, s, bias=False) if down else None

    def forward(self, x):
        h = torch.relu(self.bn1(x))
        r = self.down(h) if self.down else x
        h = self.conv2(torch.relu(self.bn2(self.conv1(h))))
        return self.conv3(torch.relu(self.bn3(h))) + r


RESNET_SPEC = {18: ("basic", [2, 2, 2, 2], [64, 64, 128, 256, 512]),
               34: ("basic", [3, 4, 6, 3], [64, 64, 128, 256, 512]),
               50: ("bottle", [3, 4, 6, 3], [64, 256, 512, 1024, 2048]),
               101: ("bottle", [3, 4, 23, 3], [64, 256, 512, 1024, 2048]),
               152: ("bottle", [3, 8, 36, 3], [64, 256, 512, 1024, 2048])}


def resnet(version, depth, classes=1000, thumbnail=False, cin=3):
    kind, layers, channels = RESNET_SPEC[depth]
    block = {(1, "basic"): BasicV1, (1, "bottle"): BottleV1, (2, "basic"): BasicV2, (2, "bottle"): BottleV2}[
        (version, kind)]
    f = [BN(cin, frozen=True)] if version == 2 else []
    if thumbnail:
        f.append(conv(cin, channels[0], 3, 1, 1, False))
    else:
        f += [conv(cin, channels[0], 7, 2, 3, False), BN(channels[0]), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    for i, n in enumerate(layers):
        s = 1 if i == 0 else 2
        f.append(block(channels[i], channels[i + 1], s, channels[i] != channels[i + 1]))
        f += [block(channels[i + 1], channels[i + 1], 1, False) for _ in range(n - 1)]
    if version == 2:
        f += [BN(channels[-1]), nn.ReLU()]
    f += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels[-1], classes)]
    return nn.Sequential(*f)


# --- Gluon's DenseNet ------------------------------------------------------------------------
class DenseLayer(nn.Module):
    def __init__(self, cin, growth, bn_size):
        super().__init__()
        self.f = nn.Sequential(BN(cin), nn.ReLU(), conv(cin, bn_size * growth, 1, bias=False), BN(bn_size * growth),
                               nn.ReLU(), conv(bn_size * growth, growth, 3, p=1, bias=False))

    def forward(self, x):
        return torch.cat([x, self.f(x)], 1)


def densenet(init_features, growth, config, bn_size=4, classes=1000, cin=3):
    f = [conv(cin, init_features, 7, 2, 3, False), BN(init_features), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    c = init_features
    for i, n in enumerate(config):
        for _ in range(n):
            f.append(DenseLayer(c, growth, bn_size))
            c += growth
        if i != len(config) - 1:
            f += [BN(c), nn.ReLU(), conv(c, c // 2, 1, bias=False), nn.AvgPool2d(2, 2)]
            c //= 2
    f += [BN(c), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, classes)]
    return nn.Sequential(*f)


# --- Gluon's MobileNet and MobileNetV2 -------------------------------------------------------
def conv_bn(cin, c, k=1, s=1, p=0, groups=1, act=nn.ReLU):
    layers = [conv(cin, c, k, s, p, False, groups), BN(c)]
    return layers + ([act()] if act else [])


def mobilenet(multiplier=1.0, classes=1000, cin=3):
    f = conv_bn(cin, int(32 * multiplier), 3, 2, 1)
    dw = [int(x * multiplier) for x in [32, 64] + [128] * 2 + [256] * 2 + [512] * 6 + [1024]]
    ch = [int(x * multiplier) for x in [64] + [128] * 2 + [256] * 2 + [512] * 6 + [1024] * 2]
    strides = [1, 2] * 3 + [1] * 5 + [2, 1]
    for d, c, s in zip(dw, ch, strides):
        f += conv_bn(d, d, 3, s, 1, groups=d) + conv_bn(d, c)
    f += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(ch[-1], classes)]
    return nn.Sequential(*f)


class LinearBottleneck(nn.Module):
    def __init__(self, cin, c, t, s):
        super().__init__()
        self.shortcut = s == 1 and cin == c
        e = cin * t
        self.out = nn.Sequential(*(conv_bn(cin, e, act=nn.ReLU6) + conv_bn(e, e, 3, s, 1, e, act=nn.ReLU6) +
                                   conv_bn(e, c, act=None)))

    def forward(self, x):
        y = self.out(x)
        return y + x if self.shortcut else y


def mobilenet_v2(multiplier=1.0, classes=1000, cin=3):
    f = conv_bn(cin, int(32 * multiplier), 3, 2, 1, act=nn.ReLU6)
    ins = [int(x * multiplier) for x in [32] + [16] + [24] * 2 + [32] * 3 + [64] * 4 + [96] * 3 + [160] * 3]
    outs = [int(x * multiplier) for x in [16] + [24] * 2 + [32] * 3 + [64] * 4 + [96] * 3 + [160] * 3 + [320]]
    ts = [1] + [6] * 16
    strides = [1, 2] * 2 + [1, 1, 2] + [1] * 6 + [2] + [1] * 3
    for i, c, t, s in zip(ins, outs, ts, strides):
        f.append(LinearBottleneck(i, c, t, s))
    last = int(1280 * multiplier) if multiplier > 1.0 else 1280
    f += conv_bn(outs[-1], last, act=nn.ReLU6)
    f += [nn.AdaptiveAvgPool2d(1), conv(last, classes, 1, bias=False), nn.Flatten()]
    return nn.Sequential(*f)


def counts(model):
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    total += sum(b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked"))
    return total, trainable


# (name, options as the C++ builder takes them, builder, input shape)
CASES = [
    ("nin", {"classes": 10}, lambda: nin(10, 1), [1, 1, 224, 224]),
    ("googlenet", {"classes": 10}, lambda: googlenet(10, 1), [1, 1, 96, 96]),
]
for v in (1, 2):
    for d in (18, 34, 50, 101, 152):
        CASES.append((f"resnet{d}_v{v}", {"classes": 1000}, lambda v=v, d=d: resnet(v, d), [1, 3, 224, 224]))
    CASES.append((f"resnet18_v{v}", {"classes": 10, "thumbnail": True},
                  lambda v=v: resnet(v, 18, 10, True, 1), [1, 1, 28, 28]))
for d, spec in {121: (64, 32, [6, 12, 24, 16]), 161: (96, 48, [6, 12, 36, 24]), 169: (64, 32, [6, 12, 32, 32]),
                201: (64, 32, [6, 12, 48, 32])}.items():
    CASES.append((f"densenet{d}", {"classes": 1000}, lambda spec=spec: densenet(*spec), [1, 3, 224, 224]))
for m, tag in ((1.0, "1_0"), (0.75, "0_75"), (0.5, "0_5"), (0.25, "0_25")):
    CASES.append((f"mobilenet{tag}", {"classes": 1000}, lambda m=m: mobilenet(m), [1, 3, 224, 224]))
    CASES.append((f"mobilenet_v2_{tag}", {"classes": 1000}, lambda m=m: mobilenet_v2(m), [1, 3, 224, 224]))

# Published trainable counts (torchvision's model documentation; MobileNet v1: Keras) and what
# Gluon's layer lists add to them.
BOTTLENECK_V1_BIASES = 3 * (64 + 256) + 4 * (128 + 512) + 6 * (256 + 1024) + 3 * (512 + 2048)
PUBLISHED = {
    "resnet18_v1": 11689512,
    "resnet34_v1": 21797672,
    "resnet50_v1": 25557032 + BOTTLENECK_V1_BIASES,
    "densenet121": 7978856,
    "densenet169": 14149480,
    "densenet201": 20013928,
    "densenet161": 28681000,
    # torchvision's 3,504,872, plus Gluon's expansion 1x1 conv (32 x 32) and its BatchNorm's gamma
    # and beta in the first bottleneck (t = 1), minus the classifier's bias (Gluon's output is a
    # 1x1 convolution without bias).
    "mobilenet_v2_1_0": 3504872 + 32 * 32 + 2 * 32 - 1000,
    "mobilenet1_0": 4231976,
}


# Networks compared number for number (predict mode, double): small inputs the global pools
# allow, 10 classes, one channel.
NUMERIC = [
    ("nin", {"classes": 10}, lambda: nin(10, 1), [2, 1, 96, 96]),
    ("googlenet", {"classes": 10}, lambda: googlenet(10, 1), [2, 1, 96, 96]),
    ("resnet18_v1", {"classes": 10, "thumbnail": True}, lambda: resnet(1, 18, 10, True, 1), [2, 1, 28, 28]),
    ("resnet18_v2", {"classes": 10, "thumbnail": True}, lambda: resnet(2, 18, 10, True, 1), [2, 1, 28, 28]),
    ("resnet50_v1", {"classes": 10}, lambda: resnet(1, 50, 10, False, 1), [2, 1, 32, 32]),
    ("resnet50_v2", {"classes": 10}, lambda: resnet(2, 50, 10, False, 1), [2, 1, 32, 32]),
    ("densenet121", {"classes": 10}, lambda: densenet(64, 32, [6, 12, 24, 16], 4, 10, 1), [2, 1, 32, 32]),
    ("mobilenet0_25", {"classes": 10}, lambda: mobilenet(0.25, 10, 1), [2, 1, 32, 32]),
    ("mobilenet_v2_0_25", {"classes": 10}, lambda: mobilenet_v2(0.25, 10, 1), [2, 1, 32, 32]),
]


def roles(model):
    """(tensor, role, trainable) in Gluon's collect_params order: each module's parameters, then
    its running statistics (BatchNorm: gamma, beta, running_mean, running_var)."""
    out = []
    for mod in model.modules():
        bn = isinstance(mod, nn.BatchNorm2d)
        for name, t in mod.named_parameters(recurse=False):
            role = {"weight": "gamma", "bias": "beta"}[name] if bn else name
            out.append((t, role, t.requires_grad))
        for name, t in mod.named_buffers(recurse=False):
            if name != "num_batches_tracked":
                out.append((t, name, False))
    return out


def fill(k, shape, role, trainable=True):
    """Parameter k's values: a fixed formula (the C++ test has the same), scaled by its role.  A
    frozen gamma and beta (Gluon's BatchNorm(scale=False, center=False), whose op takes gamma as 1)
    keep the values Gluon gives them, 1 and 0."""
    if not trainable and role in ("gamma", "beta"):
        return torch.full(shape, 1.0 if role == "gamma" else 0.0, dtype=torch.float64)
    n = 1
    for d in shape:
        n *= d
    i = torch.arange(n, dtype=torch.float64)
    s = torch.sin(0.37 * i + 1.3 * k + 0.1)
    if role == "weight":
        fan_in = n // shape[0]
        v = (4.0 / fan_in) ** 0.5 * s
    elif role == "gamma":
        v = 1 + 0.1 * s
    elif role == "running_var":
        v = 1 + 0.25 * (1 + s)
    else:  # bias, beta, running_mean
        v = 0.1 * s
    return v.reshape(shape)


def numeric_case(name, options, make, shape):
    model = make().double().eval()
    params = roles(model)
    with torch.no_grad():
        for k, (t, role, trainable) in enumerate(params):
            t.copy_(fill(k, list(t.shape), role, trainable))
    n = 1
    for d in shape:
        n *= d
    x = torch.sin(0.05 * torch.arange(n, dtype=torch.float64) + 0.3).reshape(shape)
    logits = model(x)
    labels = torch.arange(shape[0]) % logits.shape[1]
    torch.nn.functional.cross_entropy(logits, labels, reduction="sum").backward()
    sums = []
    for t, role, trainable in params:
        if trainable:
            c = torch.cos(0.21 * torch.arange(t.numel(), dtype=torch.float64))
            sums.append(float((t.grad.reshape(-1) * c).sum()))
    print(f"{name:20s} logits[0,:3] {logits[0, :3].tolist()}")
    return {"model": name, "options": options, "input": shape,
            "params": [{"shape": list(t.shape), "role": role, "trainable": tr} for t, role, tr in params],
            "logits": {"shape": list(logits.shape), "data": logits.detach().reshape(-1).tolist()},
            "grad_sums": sums}


def main():
    root = Path(__file__).resolve().parent.parent
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "tests/data/reference/model_zoo.json"
    out_numbers = Path(sys.argv[2]) if len(sys.argv) > 2 else root / "tests/data/reference/model_zoo_numbers.json"
    cases = []
    for name, options, make, shape in CASES:
        model = make().eval()
        total, trainable = counts(model)
        if name in PUBLISHED and options.get("classes") == 1000:
            assert trainable == PUBLISHED[name], (name, trainable, PUBLISHED[name])
        with torch.no_grad():
            y = model(torch.zeros(shape))
        cases.append({"model": name, "options": options, "input": shape, "output_shape": list(y.shape),
                      "total": total, "trainable": trainable})
        print(f"{name:20s} {str(options):40s} total {total:>12,d} trainable {trainable:>12,d}")
    made_with = f"PyTorch {torch.__version__}, Python {platform.python_version()}"
    out.write_text(json.dumps({"made_with": made_with, "cases": cases}, indent=1) + "\n")
    numbers = [numeric_case(*case) for case in NUMERIC]
    out_numbers.write_text(json.dumps({"made_with": made_with, "cases": numbers}) + "\n")


if __name__ == "__main__":
    main()
