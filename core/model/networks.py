"""The learned parts of the head model: mapping, tri-plane generator, decoder,
super-resolution and the lighting residual. Pure PyTorch: no custom CUDA."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from core.model.config import ModelConfig


def lrelu(x):
    """Leaky ReLU with StyleGAN's sqrt(2) gain, so activations keep their scale with depth."""
    return F.leaky_relu(x, 0.2) * math.sqrt(2.0)


class MappingNetwork(nn.Module):
    """Identity latent -> style w (and expression weights -> expression style)."""

    def __init__(self, in_dim: int, out_dim: int, layers: int):
        super().__init__()
        dims = [in_dim] + [out_dim] * layers
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        for layer in self.layers:
            nn.init.normal_(layer.weight, std=1.0 / math.sqrt(layer.in_features))
            nn.init.zeros_(layer.bias)

    def forward(self, x):
        for layer in self.layers:
            x = lrelu(layer(x))
        return x


class ModulatedConv2d(nn.Module):
    """StyleGAN2 convolution: weights scaled per input channel by a style, then demodulated."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, style_dim: int, demodulate: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel) / math.sqrt(in_ch * kernel * kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.affine = nn.Linear(style_dim, in_ch)
        nn.init.normal_(self.affine.weight, std=1.0 / math.sqrt(style_dim))
        nn.init.ones_(self.affine.bias)  # styles start around 1: every input channel is used
        self.demodulate = demodulate
        self.padding = kernel // 2

    def forward(self, x, style):
        b, c, h, w = x.shape
        s = self.affine(style)  # (b, in)
        weight = self.weight[None] * s[:, None, :, None, None]
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
        weight = weight.reshape(-1, c, *self.weight.shape[2:])
        out = F.conv2d(x.reshape(1, b * c, h, w), weight, padding=self.padding, groups=b)
        return out.reshape(b, -1, h, w) + self.bias[None, :, None, None]


class TriPlaneGenerator(nn.Module):
    """Style w -> identity feature map (cached) -> expression-modulated tri-planes.

    Expression lives in feature space (NeRFFaceShop): the last two layers are modulated by
    the identity style *and* the expression style, so an expression change re-runs only
    those two layers on the cached identity features and never moves sample points.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        ch = cfg.synthesis_channels
        self.const = nn.Parameter(torch.randn(1, ch[0], 4, 4))
        self.blocks = nn.ModuleList()
        prev = ch[0]
        for i, c in enumerate(ch):
            self.blocks.append(nn.ModuleList([ModulatedConv2d(prev, c, 3, cfg.w_dim), ModulatedConv2d(c, c, 3, cfg.w_dim)]))
            prev = c
        ex_style = cfg.w_dim + cfg.expression_dim
        self.expression_conv = ModulatedConv2d(prev, prev, 3, ex_style)
        self.to_planes = ModulatedConv2d(prev, 3 * cfg.plane_channels, 1, ex_style, demodulate=False)
        self.plane_channels = cfg.plane_channels

    def identity_features(self, w):
        x = self.const.expand(w.shape[0], -1, -1, -1)
        for i, (conv_a, conv_b) in enumerate(self.blocks):
            if i > 0:
                x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            x = lrelu(conv_a(x, w))
            x = lrelu(conv_b(x, w))
        return x

    def planes(self, features, w, expression_style):
        style = torch.cat([w, expression_style], dim=1)
        x = lrelu(self.expression_conv(features, style)) + features
        p = self.to_planes(x, style)
        b, _, h, wd = p.shape
        return p.reshape(b, 3, self.plane_channels, h, wd)


def sample_triplanes(planes, points, box: float = 0.5):
    """Features (N, C) at world points (N, 3) from planes (3, C, R, R), summed over planes.

    Planes are XY, XZ and ZY (EG3D's projections); the box [-box, box]^3 maps to [-1, 1].
    """
    p = points / box
    coords = torch.stack([p[:, [0, 1]], p[:, [0, 2]], p[:, [2, 1]]])  # (3, N, 2)
    feats = F.grid_sample(planes, coords[:, :, None, :], mode="bilinear", padding_mode="zeros", align_corners=False)
    return feats.sum(0)[:, :, 0].T  # (N, C)


def _lattice_weights(resolution: int, plane_resolution: int, box: float, plane_box: float, like) -> torch.Tensor:
    """(G, R) bilinear weights of the lattice linspace(-box, box, G) on a plane of R texels
    covering [-plane_box, plane_box]: grid_sample's rule (align_corners=False, zero padding)
    along one axis."""
    u = torch.linspace(-box, box, resolution, dtype=like.dtype, device=like.device) / plane_box
    q = ((u + 1.0) * plane_resolution - 1.0) / 2.0
    i0 = torch.floor(q)
    frac = q - i0
    weights = torch.zeros(resolution, plane_resolution + 2, dtype=like.dtype, device=like.device)
    rows = torch.arange(resolution, device=like.device)
    # one padding texel each side takes the weight that falls outside (zeros padding)
    lo = (i0.long() + 1).clamp(0, plane_resolution + 1)
    hi = (i0.long() + 2).clamp(0, plane_resolution + 1)
    weights.index_put_((rows, lo), 1.0 - frac, accumulate=True)
    weights.index_put_((rows, hi), frac, accumulate=True)
    return weights[:, 1:-1]


def lattice_triplane_features(planes, resolution: int, box: float = 0.5, plane_box: float = 0.5):
    """Features (G, G, G, C), indexed [z, y, x], at the lattice linspace(-box, box, G)^3:
    what sample_triplanes gives at those points, from three separable resamplings of the
    planes instead of 3 G^3 bilinear lookups (the occupancy grid every expression change
    rebuilds, G = 24: 5.9 -> 3.7 ms on one CPU thread)."""
    m = _lattice_weights(resolution, planes.shape[-1], box, plane_box, planes)
    xy, xz, zy = (torch.einsum("ih,chw,jw->ijc", m, p, m) for p in planes)  # [y,x], [z,x], [y,z]
    return xy[None] + xz[:, None] + zy.transpose(0, 1)[:, :, None]


class Decoder(nn.Module):
    """Per-sample MLP: tri-plane features -> density, albedo, normal, shading features."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.hidden = nn.Linear(cfg.plane_channels, cfg.decoder_hidden)
        self.out = nn.Linear(cfg.decoder_hidden, 1 + 3 + 3 + cfg.shading_features)
        self.density_bias = cfg.density_bias

    def raw(self, features):
        """Pre-activation outputs; column 0 plus density_bias is the density logit.
        SiLU, not EG3D's softplus, in the hidden layer: as smooth, 4x cheaper on a CPU."""
        return self.out(F.silu(self.hidden(features)))

    @staticmethod
    def density_from_logit(logit):
        return F.softplus(logit) * 10.0

    def forward(self, features):
        raw = self.raw(features)
        sigma = self.density_from_logit(raw[:, 0] + self.density_bias)
        albedo = torch.sigmoid(raw[:, 1:4]) * 1.002 - 0.001
        normal = F.normalize(raw[:, 4:7], dim=-1, eps=1e-6)
        return sigma, albedo, normal, raw[:, 7:]

    def density(self, features):
        h = F.silu(self.hidden(features))
        raw = h @ self.out.weight[:1].T + self.out.bias[:1]
        return self.density_from_logit(raw[:, 0] + self.density_bias)


class SuperResolution(nn.Module):
    """Sub-pixel convolution over the unshaded G-buffer (albedo, normal, features, alpha).

    Runs at the neural resolution and pixel-shuffles up, with a bilinear skip, so it costs
    little; it upsamples *before* shading, so relighting never needs it again.
    `conditions`: per-image values (the expression weights, v2.4 models) that scale and
    shift every hidden layer's channels (FiLM), so detail finer than the neural resolution
    (a closing eyelid: at 64 px an eye is ~10 x 4 pixels) follows the expression where the
    G-buffer says the eye is. A plain extra input would add the same constant everywhere.
    """

    def __init__(self, channels: int, factor: int, hidden: int, layers: int = 1, conditions: int = 0):
        super().__init__()
        self.factor = factor
        self.conv1 = nn.Conv2d(channels, hidden, 3, padding=1)
        # extra hidden layers (v2 models): a wider receptive field to place sub-pixel detail.
        # Residual and starting at zero, so a model grown by more layers renders as before.
        self.body = nn.ModuleList(nn.Conv2d(hidden, hidden, 3, padding=1) for _ in range(layers - 1))
        for conv in self.body:
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)
        self.conv2 = nn.Conv2d(hidden, channels * factor * factor, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.film = None
        if conditions:  # (scale, shift) per hidden layer and channel; at zero: no effect
            self.film = nn.Linear(conditions, 2 * layers * hidden)
            nn.init.zeros_(self.film.weight)
            nn.init.zeros_(self.film.bias)

    def forward(self, x, condition=None):
        """x (B, channels, H, W), condition (B, conditions) when the network reads them, or
        (B, conditions, H, W): a value per pixel (expression weights times each name's
        region, core/model/regions.py), so a name modulates only where its region is."""
        skip = F.interpolate(x, scale_factor=self.factor, mode="bilinear", align_corners=False)
        if self.factor == 1:
            skip = x
        film = None
        if self.film is not None:
            if condition is None or condition.shape[1] != self.film.in_features:
                raise ValueError(f"this super-resolution reads {self.film.in_features} condition values per image")
            b, layers = x.shape[0], len(self.body) + 1
            condition = condition.to(x.dtype)
            if condition.dim() == 2:
                film = self.film(condition.reshape(b, -1)).reshape(b, layers, 2, -1, 1, 1)  # (B, layer, scale/shift, channel)
            else:
                # only the names in use: a slider drag moves one of 17
                used = condition.flatten(2).abs().amax((0, 2)).nonzero()[:, 0]
                film = torch.einsum("behw,oe->bohw", condition[:, used], self.film.weight[:, used])
                film = (film + self.film.bias[None, :, None, None]).reshape(b, layers, 2, -1, *x.shape[2:])

        def modulated(pre, i):
            return pre if film is None else pre * (1.0 + film[:, i, 0]) + film[:, i, 1]

        h = F.leaky_relu(modulated(self.conv1(x), 0), 0.2)
        for i, conv in enumerate(self.body):
            h = h + F.leaky_relu(modulated(conv(h), i + 1), 0.2)
        return skip + F.pixel_shuffle(self.conv2(h), self.factor)


class ExpressionBlend(nn.Module):
    """One delta tri-plane per expression name, computed from the identity's features
    (so each head's mouth moves where its mouth is); planes += sum_k e_k delta_k.
    The deltas depend only on the identity: cached with it, an expression change is a
    weighted sum of cached planes. Starts at zero (a model without it is unchanged)."""

    def __init__(self, cfg: ModelConfig, in_channels: int):
        super().__init__()
        self.names = cfg.num_expressions
        self.plane_channels = cfg.plane_channels
        self.hidden = ModulatedConv2d(in_channels, cfg.expression_blend_hidden, 3, cfg.w_dim)
        self.out = nn.Conv2d(cfg.expression_blend_hidden, cfg.num_expressions * 3 * cfg.plane_channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.gain = float(cfg.expression_blend_gain)

    def forward(self, features, w):
        """-> deltas (B, E, 3, C, R, R)."""
        d = self.out(lrelu(self.hidden(features, w))) * self.gain
        b, _, h, wd = d.shape
        return d.reshape(b, self.names, 3, self.plane_channels, h, wd)

    @staticmethod
    def apply(planes, deltas, expression):
        """planes (B, 3, C, R, R) + sum_k expression[:, k] * deltas[:, k]."""
        expression = expression.to(deltas.dtype)
        if not torch.is_grad_enabled() and expression.shape[0] == 1:
            # rendering: only the names in use (a slider drag moves one of 17: 1.2 -> 0.2 ms);
            # with gradients every name stays, since a fit moves weights that start at zero
            used = expression[0].nonzero()[:, 0]
            if used.numel() == 0:
                return planes
            return planes + torch.einsum("be,beplhw->bplhw", expression[:, used], deltas[:, used])
        return planes + torch.einsum("be,beplhw->bplhw", expression, deltas)


class LightingResidual(nn.Module):
    """What SH irradiance alone misses: occlusion/shadow (multiplicative) and specular
    (additive), per pixel, from the shading features, the normal and the SH lighting."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.surface = nn.Linear(cfg.shading_features + 3, cfg.shading_hidden)
        self.light = nn.Linear(27, cfg.shading_hidden, bias=False)
        self.out = nn.Linear(cfg.shading_hidden, 4)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, features, normals, sh):
        """features (N, F), normals (N, 3), sh (9, 3) -> occlusion (N, 1), specular (N, 3)."""
        light = self.light(sh.reshape(1, 27))  # once per frame, not per pixel
        h = F.relu(self.surface(torch.cat([features, normals], dim=-1)) + light)
        o = self.out(h)
        return 2.0 * torch.sigmoid(o[:, :1]), 0.25 * o[:, 1:]
