# Copyright (c) mmdet-causal contributors. All rights reserved.
import random

import numpy as np
import torch
from mmdet.registry import HOOKS
from mmengine.dist import get_rank
from mmengine.hooks import Hook


def reseed(*key: int) -> int:
    """Seed torch (every device), numpy and python from ``key``, mixed into
    one 32-bit seed; returns that seed."""
    seed = int(np.random.SeedSequence(list(key)).generate_state(1)[0])
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    return seed


@HOOKS.register_module()
class IterationSeedHook(Hook):
    """Make every random draw of training a function of where the run is,
    not of how it got there, so that a resumed run is the uninterrupted run.

    mmengine's resume restores weights, optimizer, schedulers and counters,
    but its random generators start again from the seed, so after a resume
    the RoI samplers (and augmentations drawn in the main process) draw
    another stream than an uninterrupted run would. This hook reseeds every
    rank's generators (torch, CUDA, numpy, python) from ``(seed, rank,
    epoch)`` before each epoch and from ``(seed, rank, iteration)`` before
    each iteration: no state to save, no collective (a checkpoint is written
    by rank 0 alone). With it, resuming from an epoch checkpoint reproduces
    the uninterrupted run bit for bit on the CPU (tested). Dataloader
    workers keep generators of their own: with ``persistent_workers=True``
    they continue a stream that a resume restarts. ``tools/train.py`` adds
    this hook when the config does not.

    Args:
        seed (int, optional): Base seed. Defaults to the runner's seed
            (``randomness.seed``, or the one mmengine drew and keeps in
            checkpoints).
    """

    priority = 'VERY_HIGH'

    def __init__(self, seed=None) -> None:
        self.seed = seed

    def _base(self, runner) -> int:
        seed = self.seed if self.seed is not None else runner.seed
        return int(seed) % 2**32

    def before_train_epoch(self, runner) -> None:
        # before the epoch's dataloader iterator draws anything
        reseed(self._base(runner), get_rank(), 0, runner.epoch)

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        reseed(self._base(runner), get_rank(), 1, runner.iter)
