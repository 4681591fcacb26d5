# Copyright (c) mmdet-causal contributors. All rights reserved.
"""What a dataset took from its annotation file, checked before a run
spends hours on it; and the one walker through mmdet's dataset wrappers.

mmdet drops an annotation whose ``category_id`` is not among the dataset's
categories without a word, and a file without annotations either fails deep
in mmengine ("need at least one array to concatenate", when training drops
the images without any) or gives every AP as -1 with exit code 0 (testing).
Both are found here from what the dataset keeps after loading
(``cat_img_map``: one image id per annotation, by category id), without
reading the file again.
"""
import contextlib
import logging
from typing import Dict, Optional

from mmengine.logging import print_log

#: mmengine's message for a dataset left without any image.
EMPTY_DATASET_MESSAGE = 'need at least one array to concatenate'


def innermost_dataset_cfg(dataset_cfg: dict) -> dict:
    """The config of the dataset that reads the files, under the wrappers
    that name it ``dataset`` (``ClassBalancedDataset``, ``RepeatDataset``)."""
    while 'dataset' in dataset_cfg:
        dataset_cfg = dataset_cfg['dataset']
    return dataset_cfg


def leaf_datasets(dataset) -> list:
    """The built datasets holding the data under mmengine/mmdet wrappers."""
    if hasattr(dataset, 'datasets'):  # ConcatDataset
        return [d for sub in dataset.datasets for d in leaf_datasets(sub)]
    if hasattr(dataset, 'dataset'):  # ClassBalanced / Repeat dataset
        return leaf_datasets(dataset.dataset)
    return [dataset]


def empty_dataset_error(error: Exception, dataset_cfg: dict,
                        split: str) -> Optional[ValueError]:
    """The error to raise instead of mmengine's ``error`` when the ``split``
    dataset has no image left; None for any other error."""
    if EMPTY_DATASET_MESSAGE not in str(error):
        return None
    leaf = innermost_dataset_cfg(dataset_cfg)
    return ValueError(
        f'the {split} dataset has no image to use: {_describe(leaf)} has no '
        'images, or (training drops images without annotations) no '
        'annotation of its categories. Check that ann_file names the '
        f'annotated {split} file under data_root.')


@contextlib.contextmanager
def explaining_empty_dataset(dataset_cfg: dict, split: str):
    """Raise :func:`empty_dataset_error`'s error instead of mmengine's for
    the ``split`` dataset left without images, inside the block."""
    try:
        yield
    except ValueError as e:
        explained = empty_dataset_error(e, dataset_cfg, split)
        if explained is None:
            raise
        raise explained from e


def check_annotations(dataset, split: str, format_only: bool = False) -> None:
    """Refuse a ``split`` dataset without one annotation of its categories
    (unless the run only saves detections, ``format_only``), and warn once
    about annotations mmdet dropped for an unknown ``category_id``."""
    for leaf in leaf_datasets(dataset):
        by_category = getattr(leaf, 'cat_img_map', None)
        known = getattr(leaf, 'cat2label', None)
        if by_category is None or known is None:
            continue  # not a COCO/LVIS-style dataset
        unknown = {
            c: len(ids)
            for c, ids in by_category.items() if c not in known and ids
        }
        if unknown:
            print_log(
                f'{_describe(leaf)}: {sum(unknown.values())} annotations of '
                f'{len(unknown)} category ids not among the dataset\'s '
                f'categories are dropped (mmdet\'s behaviour): ids '
                f'{_first(unknown)}. Fix the file\'s category_id fields, '
                'or, if the config selects a subset of classes on purpose '
                '(metainfo=dict(classes=...)), ignore this.',
                logger='current',
                level=logging.WARNING)
        if not format_only and not any(by_category.get(c) for c in known):
            raise ValueError(
                f'the {split} dataset {_describe(leaf)} has no annotation of '
                f'its {len(known)} categories, so every AP would be -1; '
                f'give the annotated {split} file' +
                ('' if split == 'train' else
                 ', or set format_only=True in the evaluator to only save '
                 'detections'))


def _describe(dataset) -> str:
    """A dataset config or built dataset, by its type and annotation file."""
    if isinstance(dataset, dict):
        return f'{dataset.get("type")} (ann_file {dataset.get("ann_file")!r})'
    return f'{type(dataset).__name__} (ann_file {dataset.ann_file!r})'


def _first(ids: Dict[int, int], n: int = 10) -> list:
    return sorted(ids)[:n] + (['...'] if len(ids) > n else [])
