# Copyright (c) mmdet-causal contributors. All rights reserved.
from mmdet.registry import HOOKS
from mmengine.hooks import Hook

from mmdet_causal.utils.class_counts import counts_from_dataset

#: Where the counts travel: ``checkpoint['meta'][CHECKPOINT_KEY]`` and the
#: runner's message hub (runtime info) after a checkpoint is loaded.
CHECKPOINT_KEY = 'class_counts'


@HOOKS.register_module()
class TrainClassCountsHook(Hook):
    """Keep the training set's per-class counts with every checkpoint.

    Post-hoc calibration (NorCal) divides each class's score by a power of
    its number of training instances; with the counts in the checkpoint
    (``meta['class_counts']``: ``classes``, ``instance_count``,
    ``image_count``), a test run needs no training annotations and cannot
    take them from the wrong file. Counted once before training from the
    instances the training dataset loaded (each image once under RFS).
    When a checkpoint is loaded (test or resume), its counts are published
    as the message hub's runtime info ``'class_counts'``, where
    ``DebiasSweepTestLoop`` finds them. ``tools/train.py`` and
    ``tools/test.py`` add this hook when the config does not.
    """

    priority = 'LOW'

    def __init__(self) -> None:
        self.counts = None

    def before_train(self, runner) -> None:
        self.counts = counts_from_dataset(runner.train_dataloader.dataset)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.counts is not None:
            checkpoint.setdefault('meta', {})[CHECKPOINT_KEY] = self.counts

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        counts = checkpoint.get('meta', {}).get(CHECKPOINT_KEY)
        if counts is not None:
            runner.message_hub.update_info(CHECKPOINT_KEY, counts)
            if self.counts is None:  # resumed: keep saving them
                self.counts = counts
