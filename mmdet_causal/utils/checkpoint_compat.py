# Copyright (c) mmdet-causal contributors. All rights reserved.
"""Loading mmengine checkpoints on PyTorch >= 2.6.

PyTorch 2.6 made ``weights_only=True`` the default of ``torch.load``.
mmengine 0.10.7 calls ``torch.load`` without the argument, and its
checkpoints carry, besides tensors, the message hub's ``HistoryBuffer``
objects, whose pickles reference ``getattr``; so every ``tools/test.py
CONFIG CKPT`` and every ``--resume`` fails with ``WeightsUnpickler error:
Unsupported global``. Allow-listing ``getattr`` would defeat the safety
check, so the project's tools instead load *the local file the user named on
the command line* as mmengine did before PyTorch 2.6 (``weights_only=False``):
that file is trusted by the same act that asks to load it. Remote schemes
(http, s3, ...) keep PyTorch's default.
"""
import contextlib
import os.path as osp

import torch
from mmengine.runner.checkpoint import CheckpointLoader


def load_from_local_trusted(filename, map_location):
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return torch.load(filename, map_location=map_location, weights_only=False)


def trust_local_checkpoints() -> None:
    """Make mmengine load local checkpoint files with
    ``weights_only=False`` (idempotent). Called by ``tools/train.py`` and
    ``tools/test.py``; a library import never changes this."""
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local_trusted, force=True)


@contextlib.contextmanager
def trusted_local_checkpoints(loaded: list):
    """Within the context, mmengine loads local checkpoint files with
    ``weights_only=False`` and appends each loaded checkpoint to ``loaded``;
    its own loader of local files is back afterwards (for a library call,
    such as :func:`mmdet_causal.visualization.detections.load_detector`,
    that must not change the process)."""

    def load(filename, map_location):
        checkpoint = load_from_local_trusted(filename, map_location)
        loaded.append(checkpoint)
        return checkpoint

    previous = CheckpointLoader._schemes.get('')  # mmengine's local loader
    CheckpointLoader.register_scheme(prefixes='', loader=load, force=True)
    try:
        yield loaded
    finally:
        if previous is None:
            CheckpointLoader._schemes.pop('', None)
        else:
            CheckpointLoader.register_scheme(
                prefixes='', loader=previous, force=True)
