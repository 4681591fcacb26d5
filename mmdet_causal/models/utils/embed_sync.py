# Copyright (c) mmdet-causal contributors. All rights reserved.
"""When the causal box heads' moving averages move: once per optimizer step.

A causal box head collects its foreground statistics in ``loss_and_target``
(where mmdet computes the labels), but it must not all-reduce there: mmdet's
``CascadeRoIHead.loss`` leaves its stage loop on a rank without RoIs, so a
later stage's collective would wait for ever. The optimizer step is a point
every rank passes once per update, whatever its RoIs, in mmengine's runners
and in plain PyTorch loops alike. A global post-step hook of torch's
optimizers (registered when the first causal head is built) applies the
pending statistics of the heads that the stepping optimizer trains, all
heads in one all-reduce, in the order they were built (the same on every
rank).

With gradient accumulation (mmengine's ``accumulative_counts``) the
average moves once per optimizer step, by the mean of the foreground
features of the iterations accumulated, as if they had been one batch.
"""
import itertools
import weakref
from typing import Iterable

import torch
import torch.distributed as dist
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook

# every causal head built in this process, by the order of construction
_heads: 'weakref.WeakValueDictionary[int, nn.Module]' = (
    weakref.WeakValueDictionary())
_order = itertools.count()
_hook = None


def track(head: nn.Module) -> None:
    """Let optimizer steps update ``head``'s moving average (called by the
    head's ``__init__``; registers the global optimizer hook once)."""
    global _hook
    _heads[next(_order)] = head
    if _hook is None:
        _hook = register_optimizer_step_post_hook(_after_optimizer_step)


def _after_optimizer_step(optimizer, args, kwargs) -> None:
    trained = {
        id(p)
        for group in optimizer.param_groups
        for p in group['params']
    }
    heads = [
        head for _, head in sorted(_heads.items())
        if head.training and id(head.fc_cls.weight) in trained
    ]
    if heads:
        apply_embed_updates(heads)


def _world_size() -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


@torch.no_grad()
def apply_embed_updates(heads: Iterable[nn.Module]) -> None:
    """Move every head's average by its pending statistics (those of its
    ``loss_and_target`` calls since the last update; none: a zero count).

    A collective when distributed: every rank must call it with the same
    heads in the same order. The heads with ``sync_embed`` sum their
    statistics across ranks in one all-reduce first.
    """
    heads = list(heads)
    stats = [head.take_embed_stats() for head in heads]
    synced = [i for i, head in enumerate(heads) if head.sync_embed]
    if synced and _world_size() > 1:
        flat = torch.cat([stats[i] for i in synced])
        dist.all_reduce(flat)
        for i, part in zip(synced,
                           flat.split([len(stats[i]) for i in synced])):
            stats[i] = part
    for head, head_stats in zip(heads, stats):
        head.update_embed_from_stats(head_stats)
