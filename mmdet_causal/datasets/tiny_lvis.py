# Copyright (c) mmdet-causal contributors. All rights reserved.
"""A deterministic, long-tailed, LVIS-v1-format toy dataset.

Objects are filled polygons: a class is a (shape, colour) pair, so classes
share visual parts (a red triangle and a red square share the colour, a red
and a blue triangle the shape) and a head-class bias can push tail objects
towards their frequent look-alikes. The train split is long-tailed (Zipf-like
class frequencies), the val split balanced. The JSONs carry everything the
LVIS API reads: ``frequency``/``image_count``/``instance_count`` per
category (groups from train image counts with LVIS's own thresholds),
``neg_category_ids`` and ``not_exhaustive_category_ids`` per image, polygon
segmentations. Images are PNGs written next to them; nothing binary is kept
in the repository.

Layout written under ``out_dir``::

    annotations/lvis_v1_train.json
    annotations/lvis_v1_val.json
    train2017/000000000001.png ...
    val2017/000000100001.png ...

mmdet's ``LVISV1Dataset`` resolves image paths from ``coco_url`` exactly as
for the real LVIS v1, so a config only changes ``data_root``.
"""
import json
import math
import os
import os.path as osp
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

SHAPES = ('square', 'triangle', 'diamond', 'hexagon', 'star', 'cross',
          'circle', 'arrow')
COLORS = {
    'red': (220, 40, 40),
    'green': (40, 170, 60),
    'blue': (40, 80, 220),
    'yellow': (230, 200, 30),
    'magenta': (200, 50, 200),
    'cyan': (40, 200, 210),
    'orange': (240, 130, 20),
    'black': (25, 25, 25),
}
# LVIS v1 frequency groups, by the number of train images with the class.
RARE_MAX_IMAGES = 10
COMMON_MAX_IMAGES = 100
COCO_URL = 'http://images.cocodataset.org/'


@dataclass
class TinyLVISSpec:
    """What to generate; the defaults are the built-in tiny LVIS.

    Args:
        num_classes (int): Number of categories, at most
            ``len(SHAPES) * len(COLORS)``.
        train_images (int): Number of train images.
        val_images_per_class (int): Every class appears in this many val
            images (a balanced val split).
        max_objects (int): At most this many objects per image (at least 1).
        zipf_exponent (float): Class ``i`` (by frequency rank) is drawn with
            probability proportional to ``(i + 1) ** -zipf_exponent``.
        image_size (int): Images are square, this many pixels.
        min_object (float): Smallest object side, as a fraction of the image.
        max_object (float): Largest object side, as a fraction of the image.
        neg_fraction (float): Each class absent from an image is listed in
            its ``neg_category_ids`` with this probability (LVIS verifies
            only some absent classes per image).
        not_exhaustive_prob (float): Probability that, for an image holding
            several instances of a class, one of them is left unannotated and
            the class is listed in ``not_exhaustive_category_ids``.
        seed (int): Everything is a function of the spec and this seed.
    """
    num_classes: int = 16
    train_images: int = 240
    val_images_per_class: int = 5
    max_objects: int = 3
    zipf_exponent: float = 1.3
    image_size: int = 128
    min_object: float = 0.22
    max_object: float = 0.42
    neg_fraction: float = 0.5
    not_exhaustive_prob: float = 0.1
    seed: int = 0
    class_names: List[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        max_classes = len(SHAPES) * len(COLORS)
        if not 1 <= self.num_classes <= max_classes:
            raise ValueError(f'num_classes must be in [1, {max_classes}], '
                             f'got {self.num_classes}')
        if self.max_objects < 1 or self.train_images < 1:
            raise ValueError('max_objects and train_images must be >= 1')
        if not 0 < self.min_object <= self.max_object < 1:
            raise ValueError('need 0 < min_object <= max_object < 1')


# presets: the demo's tiny set, and the harder long-tail benchmark
PRESETS: Dict[str, TinyLVISSpec] = {
    'tiny':
    TinyLVISSpec(),
    'longtail':
    TinyLVISSpec(
        num_classes=48,
        train_images=600,
        val_images_per_class=8,
        max_objects=4,
        zipf_exponent=1.8,
        image_size=160,
        min_object=0.16,
        max_object=0.34),
}


def class_names(spec: TinyLVISSpec) -> List[str]:
    """The category names, in category-id order.

    Classes walk the (shape, colour) grid along diagonals: the first eight
    are eight shapes in eight colours, the next eight pair every shape with
    another colour, and so on, so any prefix shares shapes and colours
    evenly. Which class is frequent is decided separately
    (:func:`_class_weights`).
    """
    colors = list(COLORS)
    names = []
    for i in range(spec.num_classes):
        shape = SHAPES[i % len(SHAPES)]
        color = colors[(i % len(SHAPES) + i // len(SHAPES)) % len(colors)]
        names.append(f'{color}_{shape}')
    return names


def _shape_polygon(shape: str, rng: np.random.RandomState) -> np.ndarray:
    """Unit polygon (vertices in [-1, 1]^2) of a shape, before rotation."""
    if shape == 'square':
        pts = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
    elif shape == 'triangle':
        pts = [(0, -1), (1, 0.9), (-1, 0.9)]
    elif shape == 'diamond':
        pts = [(0, -1), (0.7, 0), (0, 1), (-0.7, 0)]
    elif shape == 'hexagon':
        pts = [(math.cos(a), math.sin(a))
               for a in np.linspace(0, 2 * math.pi, 7)[:-1]]
    elif shape == 'circle':
        pts = [(math.cos(a), math.sin(a))
               for a in np.linspace(0, 2 * math.pi, 21)[:-1]]
    elif shape == 'star':
        pts = [((1.0 if i % 2 == 0 else 0.45) * math.cos(a - math.pi / 2),
                (1.0 if i % 2 == 0 else 0.45) * math.sin(a - math.pi / 2))
               for i, a in enumerate(np.linspace(0, 2 * math.pi, 11)[:-1])]
    elif shape == 'cross':
        t = 0.35
        pts = [(-t, -1), (t, -1), (t, -t), (1, -t), (1, t), (t, t), (t, 1),
               (-t, 1), (-t, t), (-1, t), (-1, -t), (-t, -t)]
    elif shape == 'arrow':
        pts = [(-1, -0.3), (0.2, -0.3), (0.2, -0.8), (1, 0), (0.2, 0.8),
               (0.2, 0.3), (-1, 0.3)]
    else:
        raise ValueError(f'unknown shape {shape}')
    pts = np.asarray(pts, dtype=np.float64)
    angle = rng.uniform(0, 2 * math.pi)
    rot = np.array([[math.cos(angle), -math.sin(angle)],
                    [math.sin(angle), math.cos(angle)]])
    pts = pts @ rot.T
    # normalise to the unit box after rotation so the size is controlled
    pts -= (pts.max(0) + pts.min(0)) / 2
    return pts / np.abs(pts).max()


def _class_weights(spec: TinyLVISSpec, rng: np.random.RandomState):
    """Zipf-like sampling weights over classes, in a seeded random order so
    that frequency is independent of shape and colour."""
    ranks = rng.permutation(spec.num_classes)
    weights = (ranks + 1.0)**(-spec.zipf_exponent)
    return weights / weights.sum()


def _cover_every_class(image_classes: List[List[int]],
                       num_classes: int) -> List[List[int]]:
    """Give every class at least one train instance, as LVIS does (its rare
    group is 1-10 train images, never 0).

    Each class the draw missed replaces one object of the most frequent
    class that has one in an image not changed yet, and goes first in that
    image (the first object is always placed). A draw that missed nothing
    is returned unchanged (same objects, same random stream afterwards).
    """
    counts = np.bincount(
        np.concatenate([np.asarray(c, dtype=int) for c in image_classes]),
        minlength=num_classes)
    image_classes = [list(c) for c in image_classes]
    changed = set()
    for cls in np.flatnonzero(counts == 0):
        spot = None
        for head in np.argsort(-counts, kind='stable'):
            if counts[head] < 2:  # taking it would empty another class
                break
            spot = next((j for j, c in enumerate(image_classes)
                         if head in c and j not in changed), None)
            if spot is not None:
                break
        if spot is None:
            raise ValueError(
                f'cannot give each of the {num_classes} classes a train '
                'object: increase train_images or max_objects')
        image_classes[spot].remove(int(head))
        image_classes[spot].insert(0, int(cls))
        changed.add(spot)
        counts[head] -= 1
        counts[cls] += 1
    return image_classes


def _place_objects(classes: Sequence[int], names: Sequence[str],
                   spec: TinyLVISSpec,
                   rng: np.random.RandomState) -> List[Tuple[int, np.ndarray]]:
    """Non-overlapping polygons (pixel coordinates) for the given classes.

    Objects never overlap, so every polygon is also the exact visible mask.
    An object that finds no free place after a few tries is dropped.
    """
    size = spec.image_size
    placed, boxes = [], []
    for cls in classes:
        shape = names[cls].split('_', 1)[1]
        for _ in range(30):
            side = rng.uniform(spec.min_object, spec.max_object) * size
            aspect = rng.uniform(0.75, 1.33)
            w, h = side * math.sqrt(aspect), side / math.sqrt(aspect)
            w, h = min(w, size - 4), min(h, size - 4)
            cx = rng.uniform(w / 2 + 1, size - w / 2 - 1)
            cy = rng.uniform(h / 2 + 1, size - h / 2 - 1)
            box = (cx - w / 2 - 2, cy - h / 2 - 2, cx + w / 2 + 2,
                   cy + h / 2 + 2)
            if any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3]
                   and b[1] < box[3] for b in boxes):
                continue
            poly = _shape_polygon(shape, rng) * [w / 2, h / 2] + [cx, cy]
            placed.append((cls, poly))
            boxes.append(box)
            break
    return placed


def _render(objects, names, spec: TinyLVISSpec,
            rng: np.random.RandomState) -> np.ndarray:
    import cv2
    size = spec.image_size
    base = rng.randint(150, 235, size=3)
    img = np.empty((size, size, 3), np.float32)
    ramp = np.linspace(-18, 18, size, dtype=np.float32)
    img[:] = base
    img += ramp[None, :, None] * rng.uniform(-1, 1)
    img += ramp[:, None, None] * rng.uniform(-1, 1)
    img += rng.normal(0, 6, size=img.shape)
    for cls, poly in objects:
        color = np.asarray(COLORS[names[cls].split('_', 1)[0]], np.float32)
        color = np.clip(color + rng.uniform(-18, 18, size=3), 0, 255)
        mask = np.zeros((size, size), np.uint8)
        cv2.fillPoly(
            mask, [np.round(poly * 16).astype(np.int32)],
            1,
            lineType=cv2.LINE_8,
            shift=4)
        img[mask.astype(bool)] = color + rng.normal(
            0, 4, size=(int(mask.sum()), 3))
    img = np.clip(img, 0, 255).astype(np.uint8)
    return img[:, :, ::-1]  # RGB -> BGR for cv2.imwrite


def _polygon_area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return float(0.5 *
                 abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def _make_split(split: str, image_classes: List[List[int]], first_id: int,
                names, spec: TinyLVISSpec, rng: np.random.RandomState,
                out_dir: str, write_images: bool):
    import cv2
    img_dir = osp.join(out_dir, f'{split}2017')
    os.makedirs(img_dir, exist_ok=True)
    images, annotations = [], []
    ann_id = first_id * 10
    for i, classes in enumerate(image_classes):
        img_id = first_id + i
        objects = _place_objects(classes, names, spec, rng)
        present = sorted({cls for cls, _ in objects})
        # leave one of several instances of a class unannotated, and say so
        not_exhaustive = []
        dropped = set()
        for cls in present:
            idx = [j for j, (c, _) in enumerate(objects) if c == cls]
            if len(idx) > 1 and rng.rand() < spec.not_exhaustive_prob:
                dropped.add(idx[-1])
                not_exhaustive.append(cls + 1)
        absent = [c for c in range(spec.num_classes) if c not in present]
        neg = [c + 1 for c in absent if rng.rand() < spec.neg_fraction]
        file_name = f'{split}2017/{img_id:012d}.png'
        image = _render(objects, names, spec, rng)
        if write_images:
            cv2.imwrite(osp.join(out_dir, file_name), image)
        images.append(
            dict(
                id=img_id,
                width=spec.image_size,
                height=spec.image_size,
                coco_url=COCO_URL + file_name,
                flickr_url='',
                license=1,
                date_captured='2026-01-01 00:00:00',
                neg_category_ids=neg,
                not_exhaustive_category_ids=not_exhaustive))
        for j, (cls, poly) in enumerate(objects):
            if j in dropped:
                continue
            x0, y0 = poly.min(0)
            x1, y1 = poly.max(0)
            ann_id += 1
            annotations.append(
                dict(
                    id=ann_id,
                    image_id=img_id,
                    category_id=cls + 1,
                    segmentation=[np.round(poly, 2).ravel().tolist()],
                    area=round(_polygon_area(poly), 2),
                    bbox=[
                        round(float(x0), 2),
                        round(float(y0), 2),
                        round(float(x1 - x0), 2),
                        round(float(y1 - y0), 2)
                    ]))
    return images, annotations


def _categories(names, train_images, train_anns) -> List[dict]:
    image_sets = {c + 1: set() for c in range(len(names))}
    instances = {c + 1: 0 for c in range(len(names))}
    for ann in train_anns:
        image_sets[ann['category_id']].add(ann['image_id'])
        instances[ann['category_id']] += 1
    cats = []
    for c, name in enumerate(names):
        n_img = len(image_sets[c + 1])
        freq = ('r' if n_img <= RARE_MAX_IMAGES else
                'c' if n_img <= COMMON_MAX_IMAGES else 'f')
        cats.append({
            'id': c + 1,
            'name': name,
            'synset': f'{name}.n.01',
            'synonyms': [name],
            'def': f'a {name.replace("_", " ")}',
            'frequency': freq,
            'image_count': n_img,
            'instance_count': instances[c + 1],
        })
    return cats


def generate_tiny_lvis(out_dir: str,
                       spec: Optional[TinyLVISSpec] = None,
                       write_images: bool = True,
                       force: bool = False) -> Dict[str, str]:
    """Write the dataset of ``spec`` under ``out_dir`` (idempotent).

    A ``spec.json`` beside the annotations records what was generated; if it
    matches ``spec`` and the files exist, nothing is rewritten.

    Args:
        out_dir (str): Dataset root (``data_root`` in a config).
        spec (TinyLVISSpec, optional): What to generate. Defaults to the
            built-in tiny LVIS.
        write_images (bool): Write the PNGs. Defaults to True.
        force (bool): Regenerate even if an identical dataset exists.

    Returns:
        dict: Paths of the ``train`` and ``val`` annotation files.
    """
    spec = spec or TinyLVISSpec()
    names = class_names(spec)
    spec.class_names = names
    ann_dir = osp.join(out_dir, 'annotations')
    paths = dict(
        train=osp.join(ann_dir, 'lvis_v1_train.json'),
        val=osp.join(ann_dir, 'lvis_v1_val.json'))
    spec_path = osp.join(ann_dir, 'spec.json')
    if not force and all(osp.exists(p) for p in paths.values()) \
            and osp.exists(spec_path):
        with open(spec_path) as f:
            if json.load(f) == asdict(spec):
                return paths
    os.makedirs(ann_dir, exist_ok=True)

    rng = np.random.RandomState(spec.seed)
    weights = _class_weights(spec, rng)
    train_classes = []
    for _ in range(spec.train_images):
        num = rng.randint(1, spec.max_objects + 1)
        train_classes.append(
            rng.choice(spec.num_classes, size=num, p=weights).tolist())
    train_classes = _cover_every_class(train_classes, spec.num_classes)
    # balanced val: every class in the same number of images
    pool = np.repeat(np.arange(spec.num_classes), spec.val_images_per_class)
    rng.shuffle(pool)
    val_classes, start = [], 0
    while start < len(pool):
        k = rng.randint(1, spec.max_objects + 1)
        val_classes.append([int(c) for c in pool[start:start + k]])
        start += k

    train_imgs, train_anns = _make_split('train', train_classes, 1, names,
                                         spec, rng, out_dir, write_images)
    val_imgs, val_anns = _make_split('val', val_classes, 100001, names, spec,
                                     rng, out_dir, write_images)
    cats = _categories(names, train_imgs, train_anns)
    info = dict(
        description='mmdet-causal tiny LVIS (synthetic)',
        version='1.0',
        year=2026,
        contributor='mmdet-causal',
        date_created='2026-01-01')
    licenses = [dict(id=1, name='CC0', url='')]
    for split, imgs, anns in (('train', train_imgs, train_anns),
                              ('val', val_imgs, val_anns)):
        with open(paths[split], 'w') as f:
            json.dump(
                dict(
                    info=info,
                    licenses=licenses,
                    images=imgs,
                    annotations=anns,
                    categories=cats), f)
    with open(spec_path, 'w') as f:
        json.dump(asdict(spec), f, indent=1)
    return paths


def frequency_groups(ann_file: str) -> Dict[str, List[str]]:
    """Category names per LVIS frequency group (``'r'``, ``'c'``, ``'f'``)."""
    with open(ann_file) as f:
        cats = json.load(f)['categories']
    groups: Dict[str, List[str]] = {'r': [], 'c': [], 'f': []}
    for cat in sorted(cats, key=lambda c: c['id']):
        groups[cat['frequency']].append(cat['name'])
    return groups
