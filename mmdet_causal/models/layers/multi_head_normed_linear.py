# Copyright (c) mmdet-causal contributors. All rights reserved.
import contextlib
import math

import torch
import torch.nn as nn
from mmdet.registry import MODELS
from torch import Tensor


def float32_math(tensor: Tensor):
    """A context in which autocast is off on ``tensor``'s device, so that
    float32 inputs stay float32 (normalisations with ``eps = 1e-9`` and
    log-softmaxes must not run in fp16/bf16)."""
    try:
        return torch.autocast(device_type=tensor.device.type, enabled=False)
    except RuntimeError:  # a device type without autocast: nothing to undo
        return contextlib.nullcontext()


def at_least_float32(tensor: Tensor) -> Tensor:
    """fp16/bf16 -> float32; float32 and float64 as they are."""
    if tensor.dtype in (torch.float16, torch.bfloat16):
        return tensor.float()
    return tensor


@MODELS.register_module()
class MultiHeadNormedLinear(nn.Module):
    r"""Multi-head cosine classifier of the de-confounded training.

    The feature and every class weight are split into ``num_heads`` chunks of
    width ``d = in_features / num_heads``; each chunk is normalised and the
    logit is the scaled sum of the per-chunk cosines:

    .. math::

        y_c = \frac{\tau}{K} \sum_k
              \frac{x_k}{\lVert x_k \rVert + \epsilon} \cdot
              \frac{w_{c,k}}{\lVert w_{c,k} \rVert + \gamma}

    The ``gamma`` offset makes the weight norm matter a little: a class whose
    weights never grew (a tail class) gets a smaller logit range.

    The logits are computed and returned in float32 (float64 stays) whatever
    the input dtype and autocast state: in fp16, ``eps`` rounds to 0 and the
    normalised products lose the precision the scale ``tau`` then magnifies.

    Args:
        in_features (int): Width ``D`` of the input feature.
        out_features (int): Number of outputs (``num_classes + 1``).
        num_heads (int): Number of chunks ``K``; must divide ``in_features``.
            Defaults to 2.
        scale (float): Logit scale ``tau`` (applied as ``tau / K``).
            Defaults to 16.0.
        gamma (float): Offset in the weight norm, ``> 0`` (an all-zero
            weight row would otherwise divide by zero). Defaults to 1/32.
        eps (float): Guard in the feature norm. Defaults to 1e-9.
    """

    def __init__(self,
                 in_features: int,
                 out_features: int,
                 num_heads: int = 2,
                 scale: float = 16.0,
                 gamma: float = 1.0 / 32,
                 eps: float = 1e-9) -> None:
        super().__init__()
        if num_heads < 1 or in_features % num_heads != 0:
            raise ValueError(
                f'the classification feature width ({in_features}) must be '
                f'divisible by num_heads ({num_heads}); change num_heads or '
                'fc_out_channels')
        if scale <= 0:
            raise ValueError(f'scale must be positive, got {scale}')
        if not gamma > 0:
            raise ValueError(
                f'gamma must be positive, got {gamma} (the published default '
                'is 1/32): with gamma = 0 an all-zero class weight row is '
                'divided by zero and its logits are NaN')
        if eps <= 0:
            raise ValueError(f'eps must be positive, got {eps}')
        self.in_features = in_features
        self.out_features = out_features
        self.num_heads = num_heads
        self.head_dim = in_features // num_heads
        self.scale = scale
        self.gamma = gamma
        self.eps = eps
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform in ``[-1/sqrt(D), 1/sqrt(D)]``, as the authors' code."""
        bound = 1.0 / math.sqrt(self.in_features)
        nn.init.uniform_(self.weight, -bound, bound)

    # called by mmengine's BaseModule.init_weights: the published
    # initialisation, not mmdet's Normal(0.01) for fc_cls
    init_weights = reset_parameters

    def split_normalize(self, x: Tensor, offset: float) -> Tensor:
        """Split the last axis into heads and normalise each chunk.

        Args:
            x (Tensor): Shape ``(..., D)``.
            offset (float): Added to each chunk's norm.

        Returns:
            Tensor: Shape ``(..., K, d)``.
        """
        x = x.reshape(*x.shape[:-1], self.num_heads, self.head_dim)
        return x / (x.norm(dim=-1, keepdim=True) + offset)

    def normalized_weight(self) -> Tensor:
        """Per-head normalised class weights (at least float32), shape
        ``(C+1, K, d)``."""
        return self.split_normalize(at_least_float32(self.weight), self.gamma)

    def logits(self, x_hat: Tensor, w_hat: Tensor) -> Tensor:
        """``(tau / K) sum_k x̂_k · ŵ_{c,k}`` from the normalised chunks
        ``(N, K, d)`` and ``(C+1, K, d)``."""
        return (self.scale / self.num_heads) * x_hat.flatten(-2).matmul(
            w_hat.flatten(-2).t())

    def forward(self, x: Tensor) -> Tensor:
        """Cosine logits ``y`` of shape ``(N, out_features)``, at least
        float32."""
        with float32_math(x):
            return self.logits(
                self.split_normalize(at_least_float32(x), self.eps),
                self.normalized_weight())

    def extra_repr(self) -> str:
        return (f'in_features={self.in_features}, '
                f'out_features={self.out_features}, '
                f'num_heads={self.num_heads}, scale={self.scale}, '
                f'gamma={self.gamma}, eps={self.eps}')
