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
features of the iterations accumulated, as if they had been one batch. An
optimizer stepping inside another's step (``ZeroRedundancyOptimizer`` steps
its rank's shard optimizer) counts once: only the outermost step applies,
since an inner one trains a different subset of parameters on each rank.
"""
import itertools
import logging
import weakref
from typing import Iterable

import torch
import torch.distributed as dist
from mmengine.dist import get_world_size
from mmengine.logging import print_log
from torch import nn
from torch.optim.optimizer import (register_optimizer_step_post_hook,
                                   register_optimizer_step_pre_hook)

# every causal head built in this process, by the order of construction
_heads: 'weakref.WeakValueDictionary[int, nn.Module]' = (
    weakref.WeakValueDictionary())
_order = itertools.count()
_hooks = None
_depth = 0  # optimizer steps under way (nested: ZeroRedundancyOptimizer)
#: optimizer steps that moved no average while a head had statistics
#: pending, before the head warns that nothing trains its classifier
UNCLAIMED_STEPS_WARNING = 20


def track(head: nn.Module) -> None:
    """Let optimizer steps update ``head``'s moving average (called by the
    head's ``__init__`` and when a copy is unpickled; registers the global
    optimizer hooks once)."""
    global _hooks
    _heads[next(_order)] = head
    head._unclaimed_steps = 0
    if _hooks is None:
        _hooks = (register_optimizer_step_pre_hook(_before_optimizer_step),
                  register_optimizer_step_post_hook(_after_optimizer_step))


def _before_optimizer_step(optimizer, args, kwargs) -> None:
    global _depth
    _depth += 1


def _after_optimizer_step(optimizer, args, kwargs) -> None:
    global _depth
    _depth -= 1
    if _depth > 0:
        return  # the outer step applies
    trained = {
        id(p)
        for group in optimizer.param_groups
        for p in group['params']
    }
    heads, unclaimed = [], []
    for _, head in sorted(_heads.items()):
        if not head.training:
            continue
        if id(head.fc_cls.weight) in trained:
            heads.append(head)
        elif head._embed_stats is not None:
            unclaimed.append(head)
    if heads:
        apply_embed_updates(heads)
    for head in unclaimed:
        _count_unclaimed(head)


def _count_unclaimed(head: nn.Module) -> None:
    head._unclaimed_steps += 1
    if head._unclaimed_steps == UNCLAIMED_STEPS_WARNING:
        print_log(
            f'{type(head).__name__}: its moving average has not moved in '
            f'{UNCLAIMED_STEPS_WARNING} optimizer steps, since no optimizer '
            'that steps trains its fc_cls.weight (a frozen classifier, or '
            'an optimizer built over a copy of the parameters). Let the '
            'optimizer hold fc_cls.weight (lr 0 is fine) to update it.',
            logger='current',
            level=logging.WARNING)


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
    for head in heads:
        head._unclaimed_steps = 0
    synced = [i for i, head in enumerate(heads) if head.sync_embed]
    # a rank whose statistics overflowed (fp16) adds nothing, rather than
    # making the sum of every rank non-finite (branch-free: no device sync)
    for i in synced:
        stats[i] = torch.where(
            torch.isfinite(stats[i]).all(), stats[i],
            torch.zeros_like(stats[i]))
    if synced and get_world_size() > 1:
        flat = torch.cat([stats[i] for i in synced])
        dist.all_reduce(flat)
        for i, part in zip(synced,
                           flat.split([len(stats[i]) for i in synced])):
            stats[i] = part
    for head, head_stats in zip(heads, stats):
        head.update_embed_from_stats(head_stats)
