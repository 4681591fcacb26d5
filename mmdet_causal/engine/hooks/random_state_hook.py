# Copyright (c) mmdet-causal contributors. All rights reserved.
import random
from typing import Optional

import numpy as np
import torch
from mmdet.registry import HOOKS
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log

KEY = 'random_state'


def _capture() -> dict:
    """This process's random generators, as tensors and plain values (so a
    weights-only unpickler reads them too)."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    state = dict(
        torch=torch.get_rng_state(),
        numpy=dict(
            name=name,
            keys=torch.from_numpy(keys.astype(np.int64)),
            pos=int(pos),
            has_gauss=int(has_gauss),
            gauss=float(gauss)),
        python=random.getstate())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state()
    return state


def _restore(state: dict) -> None:
    torch.set_rng_state(state['torch'])
    np_state = state['numpy']
    np.random.set_state(
        (np_state['name'], np_state['keys'].numpy().astype(np.uint32),
         np_state['pos'], np_state['has_gauss'], np_state['gauss']))
    python = state['python']
    random.setstate((python[0], tuple(python[1]), python[2]))
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state['cuda'])


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Save every rank's random generators (torch, CUDA, numpy, python) in
    each checkpoint and restore them when training resumes from it.

    mmengine's resume restores the weights, optimizer, schedulers and
    iteration counters, but reseeds the generators as at the start of the
    run, so after a resume the RoI samplers and the augmentations of
    ``num_workers=0`` loading draw another stream than an uninterrupted run
    would. With this hook a resumed run on the CPU is the uninterrupted run,
    bit for bit. (Dataloader workers keep their own generators:
    ``persistent_workers=True`` workers continue a stream that a resume
    restarts.) ``tools/train.py`` adds this hook when the config does not.
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._pending: Optional[list] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        # every rank runs this hook; the master writes the file
        checkpoint[KEY] = all_gather_object(_capture())

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._pending = checkpoint.get(KEY)

    def before_train(self, runner) -> None:
        # after mmengine's resume, which may reseed; only for a resume
        # (a load_from starts a new run at iteration 0)
        states, self._pending = self._pending, None
        if states is None or runner.iter == 0:
            return
        if len(states) != get_world_size():
            print_log(
                f'the checkpoint holds the random state of {len(states)} '
                f'ranks, this run has {get_world_size()}: the generators '
                'stay as seeded, so the resumed run draws another stream',
                logger='current')
            return
        _restore(states[get_rank()])
