# Copyright (c) mmdet-causal contributors. All rights reserved.
"""Per-class training counts, for post-hoc calibration (NorCal).

Two sources, never the test set:

* an LVIS (or COCO) format training annotation file, whose categories carry
  ``instance_count`` and ``image_count`` (LVIS v1 does; otherwise they are
  counted from its annotations);
* a checkpoint trained by ``tools/train.py``: ``TrainClassCountsHook`` stores
  the counts of the training set it saw in ``meta['class_counts']``.

Classes are in the order mmdet's LVIS/COCO datasets give them labels: the
order of the file's categories.
"""
import json
from typing import Dict, List, Optional, Sequence

from mmdet_causal.datasets.dataset_checks import leaf_datasets

COUNT_FIELDS = ('instance_count', 'image_count')


def check_count_field(count: str) -> str:
    if count not in COUNT_FIELDS:
        raise ValueError(f'count must be one of {COUNT_FIELDS}, got {count!r}')
    return count


def counts_from_lvis_json(ann_file: str) -> Dict[str, list]:
    """``dict(classes, instance_count, image_count)`` of an LVIS/COCO-format
    annotation file, in the file's category order (mmdet's labels)."""
    with open(ann_file) as f:
        data = json.load(f)
    if 'categories' not in data:
        raise ValueError(f'{ann_file} has no "categories"; give the LVIS v1 '
                         'train annotation file')
    cats = data['categories']
    record = dict(classes=[c['name'] for c in cats], source=ann_file)
    have = all(all(f in c for f in COUNT_FIELDS) for c in cats)
    if have:
        for field in COUNT_FIELDS:
            record[field] = [int(c[field]) for c in cats]
        return record
    # COCO-style file: count from its annotations
    index = {c['id']: i for i, c in enumerate(cats)}
    instances = [0] * len(cats)
    images = [set() for _ in cats]
    for ann in data.get('annotations', []):
        if ann.get('iscrowd', 0):
            continue
        i = index[ann['category_id']]
        instances[i] += 1
        images[i].add(ann['image_id'])
    record.update(
        instance_count=instances, image_count=[len(s) for s in images])
    return record


def counts_from_dataset(dataset) -> Dict[str, list]:
    """``dict(classes, instance_count, image_count)`` of a built mmdet
    dataset, from the instances it loaded (``ignore_flag == 0``); wrappers
    such as ``ClassBalancedDataset`` (RFS) count each image once."""
    leaves = leaf_datasets(dataset)  # repeats do not change a count
    classes = list(leaves[0].metainfo.get('classes', ()))
    num = len(classes)
    instances = [0] * num
    images = [0] * num
    for leaf in leaves:
        leaf.full_init()
        for i in range(len(leaf)):
            labels = [
                inst['bbox_label']
                for inst in leaf.get_data_info(i).get('instances', [])
                if not inst.get('ignore_flag', 0)
            ]
            for label in labels:
                instances[label] += 1
            for label in set(labels):
                images[label] += 1
    return dict(
        classes=classes,
        instance_count=instances,
        image_count=images,
        source=type(dataset).__name__)


def select_counts(record: Dict[str, list],
                  count: str = 'instance_count',
                  classes: Optional[Sequence[str]] = None) -> List[int]:
    """One count per class, in the label order of ``classes`` (the test
    dataset's): taken by name when the record names its classes (a
    different order is followed), else in the record's order.

    Raises:
        ValueError: If the record lacks ``count``, or its classes are not
            the test dataset's.
    """
    check_count_field(count)
    source = record.get('source', 'the class counts')
    if count not in record:
        raise ValueError(f'{source} has no {count}; use --count-by with one '
                         f'of {[f for f in COUNT_FIELDS if f in record]}')
    counts = [int(c) for c in record[count]]
    if classes is None:
        return counts
    classes = list(classes)
    names = record.get('classes')
    if names:
        names = list(names)
        if sorted(names) != sorted(classes) or len(set(names)) != len(names):
            missing = sorted(set(classes) - set(names))[:5]
            raise ValueError(
                f'the classes of {source} are not those of the test dataset '
                f'({len(names)} against {len(classes)}; e.g. missing '
                f'{missing}); give the class counts of the training set of '
                'this model')
        by_name = dict(zip(names, counts))
        return [by_name[c] for c in classes]
    if len(classes) != len(counts):
        raise ValueError(
            f'{source} has {len(counts)} classes, the test dataset '
            f'{len(classes)}; give the counts of the training set of this '
            'model')
    return counts
