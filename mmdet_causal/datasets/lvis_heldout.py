# Copyright (c) mmdet-causal contributors. All rights reserved.
"""A held-out split carved from LVIS v1 train, for choosing test-time
strengths (TDE's alpha, NorCal's gamma) without looking at LVIS val.

The recipe: carve a held-out split from train, train on the rest, select
on the held-out split, report val (:func:`carve_heldout_split`).

Images are split, never the annotations of one image. The images, sorted
by id, are walked in the order of ``np.random.RandomState(seed).
permutation``; an image goes to the held-out split while the held-out split
has fewer than ``round(fraction * num_images)`` images and, for every
category annotated in the image,

* the category's held-out images stay at most ``round(fraction *
  image_count)`` (``image_count`` counted from the annotations), so each
  category loses about ``fraction`` of its images and the tail is not left
  to chance, and
* the category keeps at least ``min_train_images`` images for training (a
  category with fewer lends none).

Images without annotations go to the held-out split freely (within the size
target). ``round`` is Python's (halves to even): at ``fraction=0.05`` a
category needs 11 images to lend one, so no LVIS rare category (1-10 train
images) is in the held-out split and APr on it is undefined; at
``fraction=0.1`` each rare category with 6-10 images may lend one.

The constraints can stop the walk short of the target, so the held-out split
can come out a bit smaller than ``round(fraction * num_images)``; the target
and the sizes reached are recorded in both outputs' ``info['heldout_split']``.

Both outputs keep every category and its ``frequency`` unchanged (the
official LVIS groups, so APr/APc/APf on the held-out split mean the official
groups), with ``image_count`` and ``instance_count`` counted from their own
annotations (the rest's counts describe the data a model trains on; NorCal
reads them). Per-image fields such as ``neg_category_ids`` are kept. Image
and annotation records are shared with ``lvis``, not copied (LVIS train has
1.27M annotations); categories and ``info`` are copies.
"""
import copy
from collections import Counter, defaultdict
from typing import Dict, Optional, Tuple

import numpy as np

FREQUENCY_GROUPS = ('r', 'c', 'f')
REQUIRED_KEYS = ('images', 'annotations', 'categories')


def _check_input(lvis: dict, fraction: float, min_train_images: int) -> None:
    if not 0 < fraction <= 0.5:
        raise ValueError(
            f'fraction must be in (0, 0.5], got {fraction}: it is the share '
            'of train images to hold out, e.g. 0.1')
    if int(min_train_images) != min_train_images or min_train_images < 1:
        raise ValueError(
            f'min_train_images must be an integer >= 1, got '
            f'{min_train_images}: every category keeps at least one train '
            'image, as LVIS has no category without train images')
    if not isinstance(lvis, dict):
        raise ValueError(
            f'expected an LVIS annotation dict, got {type(lvis).__name__}; '
            'pass the json.load()ed contents of lvis_v1_train.json')
    missing = [key for key in REQUIRED_KEYS if key not in lvis]
    if missing:
        raise ValueError(
            f'the LVIS dict has no {missing}: not an LVIS annotation file. '
            'Pass the json.load()ed lvis_v1_train.json (keys images, '
            'annotations, categories, info, licenses)')
    for cat in lvis['categories']:
        if cat.get('frequency') not in FREQUENCY_GROUPS:
            raise ValueError(
                f'category {cat.get("id")} ({cat.get("name")}) has frequency '
                f'{cat.get("frequency")!r}, expected "r", "c" or "f". Both '
                'splits keep the official frequency groups (APr/APc/APf), '
                'which are not recomputed here: carve from the official '
                'LVIS v1 train annotations, or give every category its '
                '"frequency" first')


def recount_categories(categories, annotations) -> list:
    """Copies of ``categories`` with ``image_count``/``instance_count``
    counted from ``annotations``; every other field (``frequency`` first of
    all) kept as it is."""
    images = defaultdict(set)
    instances = Counter()
    for ann in annotations:
        images[ann['category_id']].add(ann['image_id'])
        instances[ann['category_id']] += 1
    cats = []
    for cat in categories:
        cat = copy.deepcopy(cat)
        cat['image_count'] = len(images[cat['id']])
        cat['instance_count'] = instances[cat['id']]
        cats.append(cat)
    return cats


def carve_heldout_split(lvis: dict,
                        fraction: float,
                        seed: int = 0,
                        min_train_images: int = 1,
                        source: Optional[str] = None) -> Tuple[dict, dict]:
    """Split LVIS train images into a training rest and a held-out split,
    as the module's docstring describes.

    Args:
        lvis (dict): A loaded LVIS-format annotation dict (``images``,
            ``annotations``, ``categories`` with ``frequency``; ``info`` and
            ``licenses`` are carried over when present).
        fraction (float): Share of images to hold out, in (0, 0.5].
        seed (int): Seed of the image order. Defaults to 0.
        min_train_images (int): Every category keeps at least this many
            images in the rest (all of them if it has fewer). Defaults to 1.
        source (str, optional): Where ``lvis`` came from, recorded in
            ``info``. Defaults to None.

    Returns:
        tuple[dict, dict]: ``(train_rest, heldout)``, LVIS-format dicts.

    Raises:
        ValueError: On a ``fraction`` outside (0, 0.5], a
            ``min_train_images`` below 1, a dict that is not LVIS (missing
            keys, categories without ``frequency``) or an inconsistent one
            (duplicate image ids, annotations of unknown images or
            categories).
    """
    _check_input(lvis, fraction, min_train_images)
    images = sorted(lvis['images'], key=lambda img: img['id'])
    image_cats = _image_categories(lvis, images)
    target = round(fraction * len(images))
    heldout_ids = _walk(images, image_cats, fraction, target, seed,
                        min_train_images)
    note = dict(
        source=source,
        fraction=fraction,
        seed=seed,
        min_train_images=int(min_train_images),
        target_heldout_images=target,
        heldout_images=len(heldout_ids),
        train_rest_images=len(images) - len(heldout_ids))
    info = lvis.get('info') or {}
    splits = []
    for name, keep in (('train_rest', lambda i: i not in heldout_ids),
                       ('heldout', lambda i: i in heldout_ids)):
        anns = [a for a in lvis['annotations'] if keep(a['image_id'])]
        split = dict(lvis)  # any other top-level key is carried over as is
        split.update(
            info=dict(
                copy.deepcopy(info), heldout_split=dict(note, split=name)),
            licenses=lvis.get('licenses', []),
            images=[img for img in lvis['images'] if keep(img['id'])],
            annotations=anns,
            categories=recount_categories(lvis['categories'], anns))
        splits.append(split)
    return splits[0], splits[1]


def _image_categories(lvis: dict, images: list) -> Dict[int, set]:
    """The categories annotated in each image, the file checked to be
    consistent on the way."""
    image_ids = {img['id'] for img in images}
    if len(image_ids) != len(images):
        raise ValueError('image ids are not unique: not an LVIS annotation '
                         'file, or two files were concatenated')
    cat_ids = {cat['id'] for cat in lvis['categories']}
    image_cats = defaultdict(set)
    for ann in lvis['annotations']:
        if ann['image_id'] not in image_ids:
            raise ValueError(
                f'annotation {ann.get("id")} is of image {ann["image_id"]}, '
                'which is not in "images"; the annotation file is '
                'inconsistent (re-download or re-generate it)')
        if ann['category_id'] not in cat_ids:
            raise ValueError(
                f'annotation {ann.get("id")} has category '
                f'{ann["category_id"]}, which is not in "categories"; the '
                'annotation file is inconsistent')
        image_cats[ann['image_id']].add(ann['category_id'])
    return image_cats


def _walk(images: list, image_cats: Dict[int, set], fraction: float,
          target: int, seed: int, min_train_images: int) -> set:
    """The ids of the held-out images: the seeded walk with its per-category
    quotas."""
    image_count = Counter(c for cats in image_cats.values() for c in cats)
    quota = {c: round(fraction * n) for c, n in image_count.items()}
    moved = Counter()

    def can_lend(cat: int) -> bool:
        """One more image of ``cat`` keeps it within its quota and leaves
        ``min_train_images`` for training."""
        left = image_count[cat] - moved[cat] - 1
        return moved[cat] + 1 <= quota[cat] and left >= min_train_images

    heldout_ids = set()
    for idx in np.random.RandomState(seed).permutation(len(images)):
        if len(heldout_ids) >= target:
            break
        img_id = images[idx]['id']
        cats = image_cats.get(img_id, ())
        if all(can_lend(c) for c in cats):
            heldout_ids.add(img_id)
            moved.update(cats)
    return heldout_ids


def split_statistics(lvis: dict) -> Dict[str, Dict[str, int]]:
    """Images, instances and categories of an LVIS dict, per frequency group.

    Args:
        lvis (dict): A loaded LVIS-format annotation dict.

    Returns:
        dict: ``{'all' | 'r' | 'c' | 'f': dict(images=..., instances=...,
        categories=...)}``: ``images`` holding an instance of the group,
        its ``instances``, and its ``categories`` with at least one
        instance (``'all'`` counts every image, annotated or not).
    """
    freq = {cat['id']: cat['frequency'] for cat in lvis['categories']}
    images = defaultdict(set)
    cats = defaultdict(set)
    instances = Counter()
    for ann in lvis['annotations']:
        group = freq[ann['category_id']]
        images[group].add(ann['image_id'])
        cats[group].add(ann['category_id'])
        instances[group] += 1
    stats = dict(
        all=dict(
            images=len(lvis['images']),
            instances=len(lvis['annotations']),
            categories=sum(len(c) for c in cats.values())))
    for group in FREQUENCY_GROUPS:
        stats[group] = dict(
            images=len(images[group]),
            instances=instances[group],
            categories=len(cats[group]))
    return stats
