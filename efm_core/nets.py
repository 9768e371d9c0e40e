"""Networks that learn a field between the plates.

Common interface: ``net(x, z) -> (f_x, f_z)`` with ``x`` of shape (B, *data_shape) (points (B, D) or images
(B, C, H, W)), the heights ``z`` (B,) in [0, L] (any z for ``FieldSpaceMLP``), ``f_x`` of the shape of ``x`` (the
field's data components) and ``f_z`` (B,) (its z component). Every net knows ``L``. The slab nets see z through the
relative height z / L, both as a raw input feature (MLP) and as a sinusoidal embedding, the way diffusion nets see
time.

* ``FieldMLP`` for low D (toys) and small flattened images: input layer on [x, z/L], residual SiLU blocks
  conditioned on the embedding, one linear output of D + 1 numbers.
* ``FieldSpaceMLP`` for the whole space R^{D+1} (two-sided transport, ``efm_core.theorem``), where lines leave P
  backwards and loop round the outside: the same residual MLP on scale-free features of the point relative to the
  centre c = (0, L/2) (data are centred): d / sqrt(L^2 + |d|^2) and log(1 + |d| / L) with d = (x, z) - c, so that
  points at distance 1 and 1000 L both give inputs of order one, plus two side flags [z >= 0] and [z > L] that let
  the net jump across the plates as the field does (E_z jumps by the charge density there). A caller may pass the
  flags itself (``side``): a solver step keeps the side it started on, so that no stage straddles a jump.
* ``FieldUNet`` for images: a small convolutional U-Net with GroupNorm, residual blocks whose bias comes from the
  embedding, stride-2 down-sampling and nearest up-sampling; the output convolution has C + 1 channels, the first C
  are f_x and the spatial mean of the last is f_z (as upstream's DDPM U-Net). Sized by ``channels`` and ``mults``
  (one level per entry, each level halves H and W).

* ``FieldEDMUNet`` for real images (28x28 Fashion-MNIST, 32x32 CIFAR-10): the U-Net of the EDM / DDPM++ family cut
  down for a CPU: the height enters as a positional (sinusoidal) embedding of z / L through an MLP and conditions
  every residual block by a GroupNorm scale and shift (EDM's ``adaptive_scale``), residual sums are scaled by
  1/sqrt(2), the last convolution of every block and the output start at zero, optional self-attention at the
  coarsest level. ``channels`` scales it on a GPU.

``build_net(spec, data_shape, L)`` makes any of them from a JSON-able dict, which is what checkpoints store.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from . import limits

EMBED_SCALE = 1000.0  # z / L in [0, 1] is multiplied by this before the sinusoids, like DDPM's time steps
NET_KINDS = ("mlp", "unet", "space_mlp", "edm_unet")


def sinusoidal_embedding(s: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal features (B, dim) of relative heights ``s`` (B,) (z / L, usually in [0, 1]); ``dim`` even."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=s.device, dtype=torch.float32) / half)
    angles = (EMBED_SCALE * s.float())[:, None] * freqs[None, :]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1).to(s.dtype if s.is_floating_point() else torch.float32)


class HeightEmbedding(nn.Module):
    """z (B,) -> (B, width): sinusoidal features of z / L through a two-layer SiLU MLP."""

    def __init__(self, L: float, width: int, features: int = 64) -> None:
        super().__init__()
        self.L = float(L)
        self.features = features
        self.mlp = nn.Sequential(nn.Linear(features, width), nn.SiLU(), nn.Linear(width, width))

    def forward(self, z: Tensor) -> Tensor:
        return self.mlp(sinusoidal_embedding(z / self.L, self.features))


class _ResidualBlock(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.lin1 = nn.Linear(width, width)
        self.lin2 = nn.Linear(width, width)
        self.act = nn.SiLU()

    def forward(self, h: Tensor, emb: Tensor) -> Tensor:
        return h + self.lin2(self.act(self.lin1(self.act(h + emb))))


class FieldMLP(nn.Module):
    """MLP field for data of shape ``data_shape`` (flattened to D numbers): (x, z) -> (f_x, f_z); f_x is the first D
    outputs times ``x_scale`` (EDM's output scaling, as in ``FieldEDMUNet``)."""

    def __init__(
        self, data_shape: tuple[int, ...], L: float, width: int = 256, depth: int = 3, emb_features: int = 64, x_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.data_shape = tuple(int(s) for s in data_shape)
        self.L, self.x_scale = float(L), float(x_scale)
        D = math.prod(self.data_shape)
        self.inp = nn.Linear(D + 1, width)
        self.emb = HeightEmbedding(L, width, emb_features)
        self.blocks = nn.ModuleList(_ResidualBlock(width) for _ in range(depth))
        self.out = nn.Sequential(nn.SiLU(), nn.Linear(width, D + 1))

    def forward(self, x: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        flat = x.flatten(1)
        h = self.inp(torch.cat([flat, (z / self.L)[:, None].to(flat.dtype)], dim=1))
        emb = self.emb(z)
        for block in self.blocks:
            h = block(h, emb)
        out = self.out(h)
        return out[:, :-1].reshape(x.shape) * self.x_scale, out[:, -1]

    def activation_numbers(self) -> int:
        """Numbers per item in the layer outputs of one forward pass (``linear_activations``)."""
        return linear_activations(self)


def linear_activations(net: nn.Module) -> int:
    """Numbers per item in the outputs of an MLP's layers: each Linear's output and the activation or sum after it."""
    return 2 * sum(m.out_features for m in net.modules() if isinstance(m, nn.Linear))


def side_flags(z: Tensor, L: float) -> Tensor:
    """(B, 2) float flags [z >= 0, z > L] of heights ``z`` (B,): which side of each plate a point lies on. Points on
    a plate count as between the plates, where the solvers in z start and end."""
    return torch.stack([z >= 0, z > L], dim=1).to(z.dtype if z.is_floating_point() else torch.float32)


class FieldSpaceMLP(nn.Module):
    """MLP field on all of R^{D+1} for data of shape ``data_shape``: (x, z[, side]) -> (f_x, f_z), any z.

    ``side`` (B, 2), optional: the flags [z >= 0, z > L] to use instead of the points' own (see the module notes).
    """

    def __init__(self, data_shape: tuple[int, ...], L: float, width: int = 256, depth: int = 4) -> None:
        super().__init__()
        self.data_shape = tuple(int(s) for s in data_shape)
        self.L = float(L)
        D = math.prod(self.data_shape)
        self.inp = nn.Linear(D + 4, width)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.SiLU(), nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width)) for _ in range(depth)
        )
        self.out = nn.Sequential(nn.SiLU(), nn.Linear(width, D + 1))

    def forward(self, x: Tensor, z: Tensor, side: Tensor | None = None) -> tuple[Tensor, Tensor]:
        flat = x.flatten(1)
        z = z.to(flat.dtype)
        d = torch.cat([flat, (z - self.L / 2)[:, None]], dim=1)
        r = torch.linalg.vector_norm(d, dim=1, keepdim=True)
        flags = side_flags(z, self.L) if side is None else side.to(flat.dtype)
        h = self.inp(torch.cat([d / torch.sqrt(self.L**2 + r.square()), torch.log1p(r / self.L), flags], dim=1))
        for block in self.blocks:
            h = h + block(h)
        out = self.out(h)
        return out[:, :-1].reshape(x.shape), out[:, -1]

    def activation_numbers(self) -> int:
        """Numbers per item in the layer outputs of one forward pass (``linear_activations``)."""
        return linear_activations(self)


def _groups(channels: int) -> int:
    return math.gcd(channels, 8)


class _ConvBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, the embedding added as a per-channel bias in between, residual connection."""

    def __init__(self, c_in: int, c_out: int, emb_width: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_width, c_out)
        self.norm2 = nn.GroupNorm(_groups(c_out), c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        self.act = nn.SiLU()

    def forward(self, h: Tensor, emb: Tensor) -> Tensor:
        y = self.conv1(self.act(self.norm1(h))) + self.emb(emb)[:, :, None, None]
        y = self.conv2(self.act(self.norm2(y)))
        return self.skip(h) + y


def _unet_forward(net: nn.Module, x: Tensor, z: Tensor, middle: Callable[[Tensor, Tensor], Tensor]) -> tuple[Tensor, Tensor]:
    """The pass of both U-Nets (``FieldUNet``, ``FieldEDMUNet``): down with skips, ``middle(h, emb)``, up with the
    skips, output head. Returns (f_x (B, C, H, W), f_z (B,): the spatial mean of the last output channel)."""
    emb = net.emb(z)
    h = net.inp(x)
    skips = [h]
    down = iter(net.down)
    for i in range(net.levels):
        for _ in range(net.blocks_per_level):
            h = next(down)(h, emb)
            skips.append(h)
        if i < net.levels - 1:
            h = net.downsample[i](h)
            skips.append(h)
    h = middle(h, emb)
    up = iter(net.up)
    for j, i in enumerate(reversed(range(net.levels))):
        for _ in range(net.blocks_per_level + 1):
            h = next(up)(torch.cat([h, skips.pop()], dim=1), emb)
        if i > 0:
            h = net.upsample[j](h)
    out = net.out(h)
    return out[:, :-1], out[:, -1].mean(dim=(1, 2))


def _image_shape(data_shape: tuple[int, ...], levels: int) -> tuple[int, int, int]:
    """(C, H, W) of a U-Net's images, checked: three sides, H and W divisible by 2^(levels - 1)."""
    if len(data_shape) != 3:
        raise ValueError(f"the U-Net needs image data of shape (C, H, W); got data shape {tuple(data_shape)}.")
    C, H, W = (int(s) for s in data_shape)
    if levels < 1 or H % 2 ** (levels - 1) or W % 2 ** (levels - 1):
        raise ValueError(f"{levels} U-Net levels need H and W divisible by {2 ** max(levels - 1, 0)}; got {H}x{W}.")
    return C, H, W


class FieldUNet(nn.Module):
    """Small U-Net field for images ``data_shape`` = (C, H, W): (x (B, C, H, W), z (B,)) -> (f_x, f_z (B,)).

    ``channels`` base width, ``mults`` width multiplier per level (H and W must be divisible by 2^(levels - 1)),
    ``blocks`` residual blocks per level on the way down (one more on the way up, taking the skip connection).
    The defaults (16 channels, two levels, ~160 k parameters for 8x8 digits) keep 100 network calls for 64 digits
    near a second on one CPU core; 32 channels cost about four times as much (3x3 convolutions dominate).
    """

    def __init__(
        self, data_shape: tuple[int, ...], L: float, channels: int = 16, mults: tuple[int, ...] = (1, 2), blocks: int = 1,
        emb_features: int = 64,
    ) -> None:
        super().__init__()
        C, H, W = _image_shape(data_shape, len(mults))
        levels = len(mults)
        self.data_shape = (C, H, W)
        self.L = float(L)
        emb_width = 4 * channels
        widths = [channels * int(m) for m in mults]
        self.emb = HeightEmbedding(L, emb_width, emb_features)
        self.inp = nn.Conv2d(C, channels, 3, padding=1)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        c = channels
        skips = [c]
        for i, w in enumerate(widths):
            for _ in range(blocks):
                self.down.append(_ConvBlock(c, w, emb_width))
                c = w
                skips.append(c)
            if i < levels - 1:
                self.downsample.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
                skips.append(c)
        self.mid = nn.ModuleList([_ConvBlock(c, c, emb_width), _ConvBlock(c, c, emb_width)])
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i, w in reversed(list(enumerate(widths))):
            for _ in range(blocks + 1):
                self.up.append(_ConvBlock(c + skips.pop(), w, emb_width))
                c = w
            if i > 0:
                self.upsample.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c, c, 3, padding=1)))
        self.out = nn.Sequential(nn.GroupNorm(_groups(c), c), nn.SiLU(), nn.Conv2d(c, C + 1, 3, padding=1))
        self.blocks_per_level = blocks
        self.levels = levels

    def forward(self, x: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        return _unet_forward(self, x, z, lambda h, emb: functools.reduce(lambda h, block: block(h, emb), self.mid, h))

    def activation_numbers(self) -> int:
        """Numbers per item in the layer outputs of one forward pass, estimated from the widths and resolutions: 8
        tensors of a residual block's output size (norms, activations, convolutions, skip, and its concatenated
        input), 2 per sampling, input and output layer, plus the embedding MLP."""
        _, H, W = self.data_shape
        res = [H * W // 4**i for i in range(self.levels)]
        total = 2 * self.inp.out_channels * res[0] + linear_activations(self.emb)
        down, up = iter(self.down), iter(self.up)
        for i in range(self.levels):
            total += sum(8 * next(down).conv2.out_channels * res[i] for _ in range(self.blocks_per_level))
            total += 2 * self.inp.out_channels * res[i]  # a down-sampling or its skip
        total += sum(8 * block.conv2.out_channels * res[-1] for block in self.mid)
        for i in reversed(range(self.levels)):
            width = 0
            for _ in range(self.blocks_per_level + 1):
                width = next(up).conv2.out_channels
                total += 8 * width * res[i]
            total += 2 * width * res[max(i - 1, 0)]  # the up-sampling to the next level
        return total + 2 * self.out[-1].in_channels * res[0]

class _FiLMBlock(nn.Module):
    """EDM-style residual block: GN-SiLU-conv, GN scaled and shifted by the embedding, SiLU-conv, (h + skip) / sqrt 2."""

    def __init__(self, c_in: int, c_out: int, emb_width: int) -> None:
        super().__init__()
        self.norm0 = nn.GroupNorm(_groups(c_in), c_in)
        self.conv0 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.affine = nn.Linear(emb_width, 2 * c_out)
        self.norm1 = nn.GroupNorm(_groups(c_out), c_out)
        self.conv1 = nn.Conv2d(c_out, c_out, 3, padding=1)
        nn.init.zeros_(self.conv1.weight)
        nn.init.zeros_(self.conv1.bias)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        self.act = nn.SiLU()

    def forward(self, h: Tensor, emb: Tensor) -> Tensor:
        y = self.conv0(self.act(self.norm0(h)))
        scale, shift = self.affine(emb)[:, :, None, None].chunk(2, dim=1)
        y = self.conv1(self.act(torch.addcmul(shift, self.norm1(y), scale + 1)))
        return (y + self.skip(h)) * (0.5**0.5)


class _Attention(nn.Module):
    """Single-head self-attention over the pixels of a (B, C, H, W) map, residual, scaled by 1/sqrt(2)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(_groups(c), c)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.proj = nn.Conv2d(c, c, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, h: Tensor) -> Tensor:
        B, C, H, W = h.shape
        q, k, v = self.qkv(self.norm(h)).reshape(B, 3, C, H * W).unbind(1)
        a = torch.nn.functional.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return (h + self.proj(a.transpose(1, 2).reshape(B, C, H, W))) * (0.5**0.5)


class FieldEDMUNet(nn.Module):
    """EDM-style U-Net field for images ``data_shape`` = (C, H, W): (x (B, C, H, W), z (B,)) -> (f_x, f_z (B,)).

    ``channels`` base width, ``mults`` width per level (H, W divisible by 2^(levels - 1); 28x28 takes (1, 2, 2):
    28, 14, 7), ``blocks`` residual blocks per level down (one more up, with the skip connection), ``attention``
    self-attention in the middle (coarsest level). f_x: the first C output channels times ``x_scale``; f_z: the
    spatial mean of the last one. About 0.6 M parameters at the defaults (16 channels, (1, 2, 2)) for 28x28.

    ``x_scale`` is EDM's output scaling: EFM's unit field has components of about 1/sqrt(D) in the data coordinates,
    so with ``x_scale`` = 1/sqrt(D) the raw outputs the net learns are of order one (as flow matching's velocity is),
    and the optimiser's steps are not large against the target. The default 1 keeps earlier checkpoints as trained.
    """

    def __init__(
        self, data_shape: tuple[int, ...], L: float, channels: int = 16, mults: tuple[int, ...] = (1, 2, 2), blocks: int = 1,
        attention: int = 1, emb_features: int = 64, x_scale: float = 1.0,
    ) -> None:
        super().__init__()
        C, H, W = _image_shape(data_shape, len(mults))
        self.x_scale = float(x_scale)
        levels = len(mults)
        self.data_shape, self.L, self.levels, self.blocks_per_level = (C, H, W), float(L), levels, blocks
        emb_width = 4 * channels
        self.emb = nn.Sequential(HeightEmbedding(L, emb_width, emb_features), nn.SiLU())
        self.inp = nn.Conv2d(C, channels, 3, padding=1)
        self.down, self.downsample, self.up, self.upsample = nn.ModuleList(), nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        c, skips = channels, [channels]
        for i, m in enumerate(mults):
            for _ in range(blocks):
                self.down.append(_FiLMBlock(c, channels * m, emb_width))
                c = channels * m
                skips.append(c)
            if i < levels - 1:
                self.downsample.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
                skips.append(c)
        self.mid = nn.ModuleList([_FiLMBlock(c, c, emb_width), _FiLMBlock(c, c, emb_width)])
        self.attn = _Attention(c) if attention else nn.Identity()
        for i, m in reversed(list(enumerate(mults))):
            for _ in range(blocks + 1):
                self.up.append(_FiLMBlock(c + skips.pop(), channels * m, emb_width))
                c = channels * m
            if i > 0:
                self.upsample.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c, c, 3, padding=1)))
        self.out = nn.Sequential(nn.GroupNorm(_groups(c), c), nn.SiLU(), nn.Conv2d(c, C + 1, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        f_x, f_z = _unet_forward(self, x, z, lambda h, emb: self.mid[1](self.attn(self.mid[0](h, emb)), emb))
        return f_x * self.x_scale, f_z

    def activation_numbers(self) -> int:
        """Numbers per item in the layer outputs of one forward pass, estimated from the widths and resolutions: 8
        tensors of a residual block's output size plus its input (norms, activations, convolutions, the FiLM sum,
        skip), 2 per sampling, input and output layer, the middle attention's q, k, v and pixel-by-pixel weights,
        plus the embedding MLP."""
        _, H, W = self.data_shape
        res = [H * W // 4**i for i in range(self.levels)]
        total = 2 * self.inp.out_channels * res[0] + linear_activations(self.emb)
        blocks = [(block, res[i]) for i in range(self.levels) for block in self.down[i * self.blocks_per_level:(i + 1) * self.blocks_per_level]]
        blocks += [(block, res[-1]) for block in self.mid]
        up = iter(self.up)
        blocks += [(next(up), res[i]) for i in reversed(range(self.levels)) for _ in range(self.blocks_per_level + 1)]
        for block, pixels in blocks:
            total += (8 * block.conv1.out_channels + block.conv0.in_channels) * pixels
        total += sum(2 * m.out_channels * res[i + 1] for i, m in enumerate(self.downsample))
        total += sum(2 * m[-1].out_channels * res[self.levels - 2 - j] for j, m in enumerate(self.upsample))
        if isinstance(self.attn, _Attention):
            c = self.attn.proj.out_channels
            total += 5 * c * res[-1] + res[-1] ** 2
        return total + 2 * self.out[-1].in_channels * res[0] + self.out[-1].out_channels * res[0]


def build_net(spec: dict, data_shape: tuple[int, ...], L: float, batch: int = 1) -> nn.Module:
    """A field net from its JSON spec, e.g. ``{"kind": "mlp", "width": 256, "depth": 3}``,
    ``{"kind": "space_mlp", "width": 256, "depth": 4}``, ``{"kind": "unet", "channels": 16, "mults": [1, 2], "blocks": 1}`` or
    ``{"kind": "edm_unet", "channels": 16, "mults": [1, 2, 2], "blocks": 1, "attention": 1}``; unknown kinds or options raise ValueError.

    Before anything is allocated the net is sized on the meta device (``limits.net_size``): more than
    ``limits.MAX_PARAMETERS`` parameters, or more than ``limits.MAX_ACTIVATION_BYTES`` of layer outputs for ``batch``
    items, raise ValueError."""
    if not isinstance(spec, dict) or "kind" not in spec:
        raise ValueError(f"a net spec is a dict with a 'kind' ({' or '.join(NET_KINDS)}); got {spec!r}.")
    options = {k: v for k, v in spec.items() if k != "kind"}
    if spec["kind"] == "mlp":
        cls, known = FieldMLP, {"width", "depth", "emb_features", "x_scale"}
    elif spec["kind"] == "space_mlp":
        cls, known = FieldSpaceMLP, {"width", "depth"}
    elif spec["kind"] in ("unet", "edm_unet"):
        cls, known = FieldUNet, {"channels", "mults", "blocks", "emb_features"}
        if spec["kind"] == "edm_unet":
            cls, known = FieldEDMUNet, known | {"attention", "x_scale"}
        if "mults" in options:
            options["mults"] = tuple(options["mults"])
    else:
        raise ValueError(f"net kind must be one of {', '.join(NET_KINDS)}; got {spec['kind']!r}.")
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for a {spec['kind']} net; known: {sorted(known)}.")
    if options.get("attention", 0) not in (0, 1) or isinstance(options.get("attention"), bool):
        raise ValueError(f"net option 'attention' must be 0 (none) or 1 (self-attention in the middle); got {options['attention']!r}.")
    x_scale = options.get("x_scale", 1.0)
    if not (isinstance(x_scale, int | float) and not isinstance(x_scale, bool) and math.isfinite(x_scale) and x_scale > 0):
        raise ValueError(f"net option 'x_scale' must be a finite number > 0; got {x_scale!r}.")
    for key, value in options.items():
        values = value if key == "mults" else (value,)
        if key in ("attention", "x_scale"):
            continue
        if not values or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values):
            raise ValueError(f"net option {key!r} must be {'a list of ' if key == 'mults' else 'a '}positive integer(s); got {value!r}.")
    if options.get("emb_features", 2) % 2:
        raise ValueError(f"net option 'emb_features' must be even (cosines and sines); got {options['emb_features']}.")
    limits.check_net_shape(spec["kind"], options, tuple(data_shape))
    limits.check_net_size(limits.net_size(lambda: cls(tuple(data_shape), L, **options), batch), f"a {spec['kind']} net")
    return cls(tuple(data_shape), L, **options)


def count_parameters(net: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
