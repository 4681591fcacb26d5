# Copyright (c) mmdet-causal contributors. All rights reserved.
"""Test-time switches of the causal box heads, for configs and models."""
from typing import Iterator, List, Optional

from mmdet.registry import MODELS
from torch import nn


def _is_causal_bbox_head_type(type_name) -> bool:
    from mmdet_causal.models.roi_heads.bbox_heads import CausalConvFCBBoxHead
    if isinstance(type_name, str):
        cls = MODELS.get(type_name)
    else:
        cls = type_name
    return isinstance(cls, type) and issubclass(cls, CausalConvFCBBoxHead)


def _causal_head_cfgs(node) -> Iterator[dict]:
    """Every causal box-head dict inside a (nested) model config."""
    if isinstance(node, dict):
        if _is_causal_bbox_head_type(node.get('type')):
            yield node
        for value in node.values():
            yield from _causal_head_cfgs(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _causal_head_cfgs(value)


def configure_tde(model_cfg: dict,
                  alpha: Optional[float] = None,
                  use_tde: Optional[bool] = None) -> int:
    """Set ``alpha`` and/or ``use_tde`` on every causal box head of a model
    config, in place (no retraining: alpha is a test-time knob).

    Args:
        model_cfg (dict): ``cfg.model``.
        alpha (float, optional): New alpha, finite and ``>= 0``.
        use_tde (bool, optional): Turn TDE on or off.

    Returns:
        int: Number of heads changed.

    Raises:
        ValueError: If the config has no causal box head, or alpha is
            negative or not finite.
    """
    if alpha is not None:
        from mmdet_causal.models.utils.strength import check_alpha
        alpha = check_alpha(alpha)
    heads = list(_causal_head_cfgs(model_cfg))
    if not heads:
        raise ValueError(
            'the config has no causal box head (Causal*BBoxHead), so '
            '--tde-alpha/--no-tde have nothing to change; use a causal '
            'config such as configs/htc_causal_lvis.py')
    for head in heads:
        if alpha is not None:
            head['alpha'] = float(alpha)
        if use_tde is not None:
            head['use_tde'] = bool(use_tde)
    return len(heads)


def causal_bbox_heads(model: nn.Module) -> List[nn.Module]:
    """The causal box heads of a built model (wrappers included), in the
    order of the cascade stages."""
    return [m for m in model.modules() if _is_causal_bbox_head_type(type(m))]


def stage_bbox_heads(model: nn.Module) -> List[nn.Module]:
    """The box heads of a built two-stage model's RoI head (wrappers
    included), one per cascade stage; causal or not."""
    model = getattr(model, 'module', model)  # DDP and similar wrappers
    heads = model.roi_head.bbox_head
    return list(heads) if isinstance(heads, nn.ModuleList) else [heads]


def add_custom_hooks(cfg, *types: str) -> None:
    """Append ``dict(type=T)`` to ``cfg.custom_hooks`` for each hook type
    the config does not have yet (the project's tools add
    ``ClassCountCheckHook`` and ``IterationSeedHook`` this way)."""
    hooks = list(cfg.get('custom_hooks') or [])
    have = {
        getattr(h.get('type'), '__name__', str(h.get('type'))).split('.')[-1]
        for h in hooks
    }
    hooks += [dict(type=t) for t in types if t not in have]
    cfg.custom_hooks = hooks
