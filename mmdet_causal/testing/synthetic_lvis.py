# Copyright (c) mmdet-causal contributors. All rights reserved.
"""Synthetic LVIS ground truth and detections, for evaluation tests and
benchmarks at any scale (no images are involved).

The ground truth has what makes LVIS evaluation LVIS: ``r``/``c``/``f``
frequency groups, per-image ``neg_category_ids`` and
``not_exhaustive_category_ids``, images without annotations, polygon
segmentations. The detections are per-image dicts in the form
``LVISMetric.process`` collects (``img_id``, xyxy ``bboxes``, ``scores``,
``labels``, RLE ``masks``), a noisy mix of hits and false positives, with
ties in the scores and, optionally, more than 300 detections on some images.
"""
from typing import List

import numpy as np


def _box_annotation(ann_id: int, img_id: int, cat: int, xywh, rle: bool,
                    image_size: int) -> dict:
    """An annotation whose mask is a diamond inside its box (a polygon that
    is not the box), as a polygon or as compressed RLE."""
    x, y, w, h = xywh
    ann = dict(
        id=ann_id,
        image_id=img_id,
        category_id=cat,
        bbox=[float(x), float(y), float(w),
              float(h)],
        area=float(w * h / 2),
        segmentation=[[
            x + w / 2, y, x + w, y + h / 2, x + w / 2, y + h, x, y + h / 2
        ]])
    if rle:
        import pycocotools.mask as mask_utils
        code = mask_utils.merge(
            mask_utils.frPyObjects(ann['segmentation'], image_size,
                                   image_size))
        code['counts'] = code['counts'].decode()
        ann.update(segmentation=code, area=float(mask_utils.area(code)))
    return ann


def make_lvis_gt(num_images: int = 50,
                 num_classes: int = 30,
                 max_objects: int = 6,
                 image_size: int = 64,
                 empty_fraction: float = 0.1,
                 with_masks: bool = True,
                 rle_fraction: float = 0.0,
                 seed: int = 0) -> dict:
    """An LVIS-format ground-truth dict; ``rle_fraction`` of the masks are
    compressed RLE instead of polygons."""
    rng = np.random.RandomState(seed)
    cats = []
    for c in range(num_classes):
        cats.append(
            dict(
                id=c + 1,
                name=f'class_{c}',
                frequency='rcf'[c % 3],
                synset=f'class_{c}.n.01',
                image_count=0,
                instance_count=0))
    images, anns = [], []
    for i in range(num_images):
        img_id = i + 1
        n = 0 if rng.rand() < empty_fraction else rng.randint(1, max_objects)
        present = set()
        for _ in range(n):
            cat = int(rng.randint(1, num_classes + 1))
            w, h = rng.uniform(6, image_size / 2, size=2)
            x = rng.uniform(0, image_size - w)
            y = rng.uniform(0, image_size - h)
            ann = _box_annotation(
                len(anns) + 1, img_id, cat, (x, y, w, h), with_masks
                and rng.rand() < rle_fraction, image_size)
            if not with_masks:
                del ann['segmentation']
                ann['area'] = float(w * h)
            anns.append(ann)
            present.add(cat)
        absent = [c for c in range(1, num_classes + 1) if c not in present]
        neg = sorted(
            int(c) for c in rng.choice(
                absent, size=min(len(absent), 5), replace=False))
        not_exhaustive = sorted(c for c in present if rng.rand() < 0.2)
        images.append(
            dict(
                id=img_id,
                width=image_size,
                height=image_size,
                neg_category_ids=neg,
                not_exhaustive_category_ids=not_exhaustive,
                coco_url=f'http://images.cocodataset.org/val2017/'
                f'{img_id:012d}.jpg'))
    return dict(images=images, annotations=anns, categories=cats)


def make_predictions(gt: dict,
                     dets_per_image: int = 20,
                     many_dets_every: int = 0,
                     many_dets: int = 400,
                     with_masks: bool = True,
                     seed: int = 1) -> List[dict]:
    """Per-image predictions in the form ``LVISMetric.process`` collects.

    Args:
        gt (dict): From :func:`make_lvis_gt` (or any LVIS dict).
        dets_per_image (int): Detections per image.
        many_dets_every (int): Every this many images get ``many_dets``
            detections instead (0: never), to exercise the 300 cap.
        with_masks (bool): Add RLE masks (needs pycocotools).
    """
    rng = np.random.RandomState(seed)
    num_classes = len(gt['categories'])
    by_image = {img['id']: [] for img in gt['images']}
    for ann in gt['annotations']:
        by_image[ann['image_id']].append(ann)
    preds = []
    for k, img in enumerate(gt['images']):
        size = img['width']
        n = dets_per_image
        if many_dets_every and k % many_dets_every == 0:
            n = many_dets
        boxes, labels = [], []
        for _ in range(n):
            if by_image[img['id']] and rng.rand() < 0.5:
                ann = by_image[img['id']][rng.randint(
                    len(by_image[img['id']]))]
                x, y, w, h = ann['bbox']
                x, y = x + rng.normal(0, 2), y + rng.normal(0, 2)
                w, h = w * rng.uniform(0.8, 1.2), h * rng.uniform(0.8, 1.2)
                label = ann['category_id'] - 1 if rng.rand() < 0.7 else \
                    rng.randint(num_classes)
            else:
                w, h = rng.uniform(4, size / 2, size=2)
                x, y = rng.uniform(0, size - w), rng.uniform(0, size - h)
                label = rng.randint(num_classes)
            x, y = max(x, 0.0), max(y, 0.0)
            boxes.append([x, y, min(x + w, size), min(y + h, size)])
            labels.append(label)
        # scores on a coarse grid so that ties happen
        scores = np.round(rng.uniform(0.01, 1.0, size=n), 2)
        pred = dict(
            img_id=img['id'],
            bboxes=np.asarray(boxes, np.float32).reshape(-1, 4),
            scores=scores.astype(np.float32),
            labels=np.asarray(labels, np.int64))
        if with_masks:
            pred['masks'] = _box_masks(pred['bboxes'], img['height'],
                                       img['width'])
        preds.append(pred)
    return preds


def _box_masks(boxes: np.ndarray, height: int, width: int) -> list:
    """RLE masks: each box's inscribed ellipse, as mmdet encodes them."""
    import pycocotools.mask as mask_utils
    yy, xx = np.mgrid[:height, :width] + 0.5
    masks = []
    for x1, y1, x2, y2 in boxes:
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        rx, ry = max((x2 - x1) / 2, 0.5), max((y2 - y1) / 2, 0.5)
        m = (((xx - cx) / rx)**2 + ((yy - cy) / ry)**2) <= 1
        masks.append(mask_utils.encode(np.asfortranarray(m.astype(np.uint8))))
    return masks
