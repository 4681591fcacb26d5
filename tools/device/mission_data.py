# Copyright (c) mmdet-causal contributors. All rights reserved.
"""An LVIS-v1-format set with LVIS v1's 1203 categories, for running the
product's own command (``tools/dist_train.sh configs/htc_causal_lvis.py``)
end to end on a GPU without LVIS: the generator's polygons on large images
for the first 64 categories, the other 1139 present as categories without
annotations (rare, as in LVIS), names and ids those of LVIS v1. It proves
the path, not the accuracy.

    python tools/device/mission_data.py OUT_DIR [--images 16] [--size 1024]

Writes ``OUT_DIR/annotations/lvis_v1_train.json`` (also the test file) and
the images under ``OUT_DIR/train2017``, where ``data_root=OUT_DIR/`` finds
them.
"""
import argparse
import json
import os.path as osp

from mmdet_causal.testing import TinyLVISSpec, generate_tiny_lvis

#: the generator's largest number of distinct-looking classes
DRAWN = 64


def lvis_v1_names() -> list:
    from mmdet.datasets import LVISV1Dataset
    return list(LVISV1Dataset.METAINFO['classes'])


def make(out_dir: str, images: int = 16, size: int = 1024) -> str:
    names = lvis_v1_names()
    spec = TinyLVISSpec(
        num_classes=DRAWN,
        train_images=images,
        val_images_per_class=1,
        image_size=size,
        heldout_fraction=0,
        class_names=names[:DRAWN])
    path = generate_tiny_lvis(out_dir, spec)['train']
    with open(path) as f:
        data = json.load(f)
    drawn = {c['id'] for c in data['categories']}
    assert drawn == set(range(1, DRAWN + 1)), sorted(drawn)[:5]
    data['categories'] += [
        dict(
            id=i + 1,
            name=name,
            synset=name,
            frequency='r',
            image_count=0,
            instance_count=0) for i, name in enumerate(names)
        if i + 1 not in drawn
    ]
    assert len(data['categories']) == len(names) == 1203
    with open(path, 'w') as f:
        json.dump(data, f)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('out_dir')
    parser.add_argument('--images', type=int, default=16)
    parser.add_argument('--size', type=int, default=1024)
    args = parser.parse_args(argv)
    path = make(args.out_dir, args.images, args.size)
    print(f'[mission] {path}: 1203 categories, {args.images} images of '
          f'{args.size}x{args.size} under {osp.abspath(args.out_dir)}')


if __name__ == '__main__':
    main()
