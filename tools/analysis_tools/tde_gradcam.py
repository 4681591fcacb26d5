# Copyright (c) mmdet-causal contributors. All rights reserved.
"""Grad-CAM of one detection's class score, for several models side by
side (the TDE paper's stock-vs-causal figure, in detection form).

    python tools/analysis_tools/tde_gradcam.py IMAGE \\
        --model stock STOCK_CONFIG STOCK_CKPT \\
        --model causal CAUSAL_CONFIG CAUSAL_CKPT [--alpha 1.5] \\
        [--class NAME | --box X1 Y1 X2 Y2] [--layer auto] [--out FILE]

The box is the first model's most confident detection (of ``--class`` if
given) unless ``--box`` names one; every model then explains its own most
confident detection on that box (IoU >= 0.5), whatever class it predicts
there (``--same-class`` forces the first model's class). The map is that
of the detection's probability, at the FPN level its RoI is pooled from
(``--layer auto``) or at a named module. ``--alpha`` sets TDE's alpha on
causal models (default: the config's).
"""
import argparse
import json

from mmdet_causal.apis.debias_sweep import Strength
from mmdet_causal.utils.tde import causal_bbox_heads
from mmdet_causal.visualization.detections import class_names, load_detector
from mmdet_causal.visualization.grad_cam import detection_grad_cam, draw_cams


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n', 1)[1])
    parser.add_argument('image')
    parser.add_argument(
        '--model',
        nargs=3,
        action='append',
        required=True,
        metavar=('LABEL', 'CONFIG', 'CHECKPOINT'))
    parser.add_argument('--alpha', type=float, help='TDE alpha (causal)')
    target = parser.add_mutually_exclusive_group()
    target.add_argument('--class', dest='class_name')
    target.add_argument('--box', type=float, nargs=4)
    parser.add_argument('--same-class', action='store_true')
    parser.add_argument('--layer', default='auto')
    parser.add_argument('--out', default='work_dirs/tde_gradcam.png')
    parser.add_argument(
        '--json', help='also write the detections explained, as JSON')
    parser.add_argument('--device', default='cpu')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    box, label, cams, titles, info = args.box, None, [], [], []
    for k, (name, config, checkpoint) in enumerate(args.model):
        model = load_detector(config, checkpoint, args.device)
        classes = class_names(model)
        causal = bool(causal_bbox_heads(model))
        strength = Strength(args.alpha if causal else None)
        if k == 0 and args.class_name is not None:
            if args.class_name not in classes:
                raise SystemExit(f'--class {args.class_name!r} is not a '
                                 f'class of {name}')
            label = classes.index(args.class_name)
        cam = detection_grad_cam(
            model,
            args.image,
            box=box,
            label=label if (k == 0 or args.same_class) else None,
            strength=strength,
            layer=args.layer)
        if k == 0:
            box = cam.box
            label = cam.label
        alpha = ''
        if causal:
            alpha = ', alpha ' + (f'{args.alpha:g}'
                                  if args.alpha is not None else
                                  f'{causal_bbox_heads(model)[0].alpha:g}')
        titles.append(f'{name}{alpha}: {classes[cam.label]} '
                      f'{cam.score:.2f}\n({cam.layer})')
        cams.append(cam)
        info.append(
            dict(
                model=name,
                label=classes[cam.label],
                score=cam.score,
                box=cam.box,
                layer=cam.layer))
    fig = draw_cams(args.image, cams, titles, args.out)
    import matplotlib.pyplot as plt
    plt.close(fig)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(info, f, indent=1)
    for entry in info:
        print(f'{entry["model"]}: {entry["label"]} {entry["score"]:.2f} at '
              f'{[round(v, 1) for v in entry["box"]]} ({entry["layer"]})')
    print(f'-> {args.out}')


if __name__ == '__main__':
    main()
