# Copyright (c) mmdet-causal contributors. All rights reserved.
"""What a causal box head says about the weights it is given: a checkpoint
of a stock (linear-classifier) box head leaves its cosine classifier
untrained, and an all-zero moving average makes TDE a no-op. One warning
per process and problem, however many heads and images meet it."""
import logging

from mmengine.logging import print_log

STOCK_CHECKPOINT_WARNING = (
    'the checkpoint was trained with a stock (linear) box head: the box '
    "heads' classifier is untrained for this causal config (fc_cls.bias is "
    'dropped, and fc_cls.weight holds a linear classifier, not the cosine '
    'classifier the head computes) and causal_embed is missing, so TDE '
    'changes nothing. Test the checkpoint with its own stock config, or '
    'train this config.')
UNTRAINED_EMBED_WARNING = (
    'causal_embed is missing from the checkpoint or all zeros (a stock, '
    'non-causal checkpoint?), so TDE changes nothing. Load a checkpoint '
    'trained with a causal box head, or set use_tde=False.')
_warned = set()


def warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        print_log(message, logger='current', level=logging.WARNING)


def warn_untrained_embed() -> None:
    """The moving average is all zeros at test time (said already, more
    precisely, of a stock checkpoint)."""
    if STOCK_CHECKPOINT_WARNING not in _warned:
        warn_once(UNTRAINED_EMBED_WARNING)


def check_loaded_state(head, state_dict: dict, prefix: str, missing_keys: list,
                       error_msgs: list) -> dict:
    """Warn about a stock checkpoint or a missing moving average, refuse one
    of another width; returns the state to load (without such an
    average)."""
    key = prefix + 'causal_embed'
    if key not in state_dict:
        # the moving average stays as it is (mmengine lists the missing
        # keys); one warning for all heads says what that means
        stock = prefix + 'fc_cls.bias' in state_dict
        warn_once(
            STOCK_CHECKPOINT_WARNING if stock else UNTRAINED_EMBED_WARNING)
    elif state_dict[key].shape != head.causal_embed.shape:
        error_msgs.append(
            f'size mismatch for {key}: checkpoint '
            f'{tuple(state_dict[key].shape)}, model '
            f'{tuple(head.causal_embed.shape)} (the classification feature '
            'width differs)')
        state_dict = {k: v for k, v in state_dict.items() if k != key}
        missing_keys.append(key)
    return state_dict
