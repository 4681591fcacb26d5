# Copyright (c) mmdet-causal contributors. All rights reserved.
"""IterationSeedHook: what an iteration draws depends on (seed, rank,
iteration) only, not on what was drawn before; no collective is needed."""
import random
import unittest
from types import SimpleNamespace
from unittest import mock

import numpy as np
import torch

from mmdet_causal import IterationSeedHook
from mmdet_causal.engine.hooks import iteration_seed_hook


def draws():
    return (torch.rand(3).tolist(), np.random.rand(3).tolist(),
            [random.random() for _ in range(3)])


class TestIterationSeedHook(unittest.TestCase):

    def test_draws_depend_on_position_only(self):
        hook = IterationSeedHook()
        runner = SimpleNamespace(seed=7, epoch=1, iter=40)
        hook.before_train_iter(runner, 0)
        first = draws()
        # whatever happened in between (another history of draws) ...
        torch.rand(100)
        np.random.rand(17)
        hook.before_train_epoch(runner)
        draws()
        # ... the same iteration draws the same numbers
        hook.before_train_iter(runner, 0)
        self.assertEqual(draws(), first)
        # another iteration, epoch start, seed or rank: other numbers
        runner.iter = 41
        hook.before_train_iter(runner, 0)
        self.assertNotEqual(draws(), first)
        runner.iter = 40
        hook.before_train_epoch(runner)
        self.assertNotEqual(draws(), first)
        IterationSeedHook(seed=8).before_train_iter(runner, 0)
        self.assertNotEqual(draws(), first)
        with mock.patch.object(
                iteration_seed_hook, 'get_rank', return_value=1):
            hook.before_train_iter(runner, 0)
        self.assertNotEqual(draws(), first)


if __name__ == '__main__':
    unittest.main()
