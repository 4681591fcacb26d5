# Copyright (c) mmdet-causal contributors. All rights reserved.
"""Choosing a test-time strength on a held-out split, refused when the
choice would mean nothing: checked before any inference where the inputs
tell (the metric's name, the selection file itself), and after the
selection pass where only the numbers do (a metric undefined for every
strength).

Ties go to the first strength in grid order: the smallest alpha, then the
smallest gamma, i.e. the least correction."""
import json
import math
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

from mmdet.evaluation.metrics import CocoMetric, LVISMetric

#: what LVISMetric and CocoMetric report per iou type (mmdet 3.3)
LVIS_KEYS = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'APr', 'APc', 'APf')
COCO_KEYS = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l')
IOU_TYPES = ('bbox', 'segm', 'proposal', 'proposal_fast')
#: LVIS frequency group of the group metrics
GROUPS = {
    'APr': ('r', 'rare'),
    'APc': ('c', 'common'),
    'APf': ('f', 'frequent')
}
HELDOUT_TOOL = 'tools/dataset_converters/lvis_heldout_split.py'


def metric_parts(key: str) -> Tuple[str, str]:
    """The iou type and the column of an evaluator's metric key, with or
    without its prefix: ``'lvis/bbox_APr'`` -> ``('bbox', 'APr')``,
    ``'coco/proposal_fast_mAP_50'`` -> ``('proposal_fast', 'mAP_50')``."""
    short = key.split('/')[-1]
    for iou in sorted(IOU_TYPES, key=len, reverse=True):
        if short.startswith(iou + '_'):
            return iou, short[len(iou) + 1:]
    iou, _, column = short.partition('_')
    return iou, column


def metric_names(metrics: Sequence) -> Optional[List[str]]:
    """Every name ``select_metric`` can take with these evaluator metrics
    (``'bbox_AP'``, ...); None if one of them is of a kind not known here
    (then the name is checked against the first selection's results)."""
    names = []
    for metric in metrics:
        if isinstance(metric, LVISMetric):  # a CocoMetric too: first
            keys = LVIS_KEYS
        elif isinstance(metric, CocoMetric):
            keys = COCO_KEYS
        else:
            return None
        if getattr(metric, 'metric_items', None) is not None:
            keys = tuple(metric.metric_items)  # the config's choice of them
        ious = metric.metrics
        ious = [ious] if isinstance(ious, str) else list(ious)
        names += [f'{iou}_{key}' for iou in ious for key in keys]
    return names


def check_select_metric(name: str, metrics: Sequence) -> None:
    """Before inference: ``name`` is one the evaluator reports.

    Raises:
        ValueError: Naming the valid metrics (and the ``--eval`` flag when
            only the iou type is missing).
    """
    valid = metric_names(metrics)
    iou, column = metric_parts(name)
    if valid is None or f'{iou}_{column}' in valid:
        return
    hint = ''
    if iou in IOU_TYPES and not any(metric_parts(v)[0] == iou for v in valid):
        hint = f' (for {iou} metrics add the evaluation: --eval ... {iou})'
    raise ValueError(
        f'select_metric {name!r} is not among the evaluator\'s metrics{hint}; '
        f'use one of: {", ".join(valid)}')


def _image_ids(path: str) -> set:
    with open(path) as f:
        return {img['id'] for img in json.load(f)['images']}


def _check_disjoint(select_on: str, select_ids: set, test_ann: str) -> None:
    """The selection set is not the test set (refused), nor shares images
    with it (warned: the choice is then partly tuned to the test set)."""
    same_file = osp.realpath(select_on) == osp.realpath(test_ann)
    test_ids = select_ids if same_file else _image_ids(test_ann)
    if test_ids == select_ids:
        raise ValueError(
            f'select_on {select_on} is the test set ({test_ann}: the same '
            'images): a strength chosen on it is tuned to the numbers it '
            f'reports. Choose on a held-out split carved from train with '
            f'{HELDOUT_TOOL}')
    shared = select_ids & test_ids
    if shared:
        warnings.warn(
            f'select_on {select_on} shares {len(shared)} of its '
            f'{len(select_ids)} images with the test set {test_ann}: the '
            'strength chosen there is partly tuned to the numbers reported. '
            f'Choose on a held-out split carved from train with '
            f'{HELDOUT_TOOL}')


def check_select_set(select_on: str, test_ann: Optional[str],
                     select_metric: str) -> None:
    """Before inference: the selection file is not the test set and has
    the ground truth the metric needs.

    Raises:
        ValueError: For the test annotation file (same path or same
            images), a file without annotations, or a group metric
            (``APr``/``APc``/``APf``) whose group has no instance in it.
            A file sharing some images with the test set is warned about.
    """
    with open(select_on) as f:
        data = json.load(f)  # read once: its images, annotations, classes
    if test_ann:
        _check_disjoint(select_on, {img['id']
                                    for img in data['images']}, test_ann)
    anns = data.get('annotations') or []
    if not anns:
        raise ValueError(
            f'select_on {select_on} has no annotations: every strength '
            'would score -1 there and the choice would be arbitrary. Pass '
            'a held-out split with ground truth (carve a larger one with '
            f'{HELDOUT_TOOL} --fraction)')
    iou, column = metric_parts(select_metric)
    group = GROUPS.get(column)
    if group is None:
        return
    freq = {c['id']: c.get('frequency') for c in data.get('categories', [])}
    if not any(v is not None for v in freq.values()):
        return  # no LVIS frequency groups to check against
    if not any(freq.get(a['category_id']) == group[0] for a in anns):
        raise ValueError(
            f'select_metric {select_metric!r} is undefined on {select_on}: '
            f'it has no {group[1]}-class instance. Select by another metric '
            f'(e.g. {iou}_AP), or carve '
            f'a larger held-out fraction with {HELDOUT_TOOL}')


def pick(select: Dict, settings: Sequence, key: str, select_on: str):
    """The strength with the best held-out ``key`` among those where it is
    defined (finite and ``>= 0``; LVIS reports -1 for an empty group);
    ties go to the first in grid order.

    Raises:
        ValueError: If ``key`` is undefined for every strength.
    """
    defined = [
        s for s in settings if isinstance(select[s][key], (int, float))
        and math.isfinite(select[s][key]) and select[s][key] >= 0
    ]
    if not defined:
        raise ValueError(
            f'{key} is undefined (-1 or NaN) on the selection set '
            f'{select_on} for every strength: it has no ground truth that '
            'metric can score. Select by another metric, or carve a larger '
            f'held-out fraction with {HELDOUT_TOOL}')
    return max(defined, key=lambda s: select[s][key])
