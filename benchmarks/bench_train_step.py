# Copyright (c) mmdet-causal contributors. All rights reserved.
"""Training-step cost of a causal config against its stock twin.

Builds both models from their configs (by default the tiny HTC pair), feeds
them the same batches of the same data, and times ``train_step`` interleaved
(stock, causal, stock, ...) in one process; prints medians and the ratio.
Peak memory: on CUDA, ``max_memory_allocated`` per step; on the CPU, the
peak resident set of a separate process per model (so one model's peak
cannot hide the other's).

    python benchmarks/bench_train_step.py [--stock CFG --causal CFG]
        [--iters 20] [--warmup 3] [--device cpu|cuda] [--json OUT]
        [--synthetic HxW]   # random images of that size instead of data
"""
import argparse
import copy
import json
import os.path as osp
import resource
import statistics
import subprocess
import sys
import time

import torch

import mmdet_causal  # noqa: F401
from mmdet_causal.testing import generate_tiny_lvis

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

STOCK = 'configs/tiny/htc_r18_fpn_tiny-lvis.py'
CAUSAL = 'configs/tiny/htc-causal_r18_fpn_tiny-lvis.py'


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--stock', default=STOCK)
    parser.add_argument('--causal', default=CAUSAL)
    parser.add_argument('--iters', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--batch-size', type=int, default=None)
    parser.add_argument(
        '--synthetic',
        metavar='HxW',
        help='random images and boxes of this size instead of the '
        'config\'s dataset (e.g. 800x1333)')
    parser.add_argument('--cfg-options', nargs='*', default=[])
    parser.add_argument('--json', help='also write the figures here')
    parser.add_argument(
        '--memory-only', choices=['stock', 'causal'],
        help=argparse.SUPPRESS)  # the CPU memory subprocess
    return parser.parse_args()


def load_cfg(path, options):
    from mmengine.config import Config, DictAction
    cfg = Config.fromfile(osp.join(ROOT, path))
    if options:
        parser = argparse.ArgumentParser()
        parser.add_argument('--o', nargs='+', action=DictAction)
        cfg.merge_from_dict(parser.parse_args(['--o'] + options).o)
    return cfg


def build(cfg, device):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.optim import build_optim_wrapper
    register_all_modules()
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(device)
    model.init_weights()
    model.train()
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    return model, optim


def batches(cfg, args, num):
    """``num`` data batches, identical for both models."""
    torch.manual_seed(0)
    if args.synthetic:
        from mmdet.testing import demo_mm_inputs
        h, w = (int(v) for v in args.synthetic.lower().split('x'))
        bs = args.batch_size or 2
        num_classes = cfg.model.roi_head.bbox_head[0].num_classes \
            if isinstance(cfg.model.roi_head.bbox_head, list) \
            else cfg.model.roi_head.bbox_head.num_classes
        return [
            demo_mm_inputs(
                batch_size=bs,
                image_shapes=[(3, h, w)] * bs,
                num_items=[8] * bs,
                num_classes=num_classes,
                with_mask=True) for _ in range(num)
        ]
    from mmengine.runner import Runner
    root = cfg.train_dataloader.dataset.data_root
    generate_tiny_lvis(osp.join(ROOT, root))
    loader_cfg = copy.deepcopy(cfg.train_dataloader)
    loader_cfg.dataset.data_root = osp.join(ROOT, root)
    loader_cfg.num_workers = 0
    loader_cfg.persistent_workers = False
    loader_cfg.sampler = dict(type='DefaultSampler', shuffle=False)
    if args.batch_size:
        loader_cfg.batch_size = args.batch_size
    loader = Runner.build_dataloader(loader_cfg, seed=0)
    out = []
    for data in loader:
        out.append(data)
        if len(out) == num:
            break
    return out


def step(model, optim, data, device):
    model.train_step(copy.copy(data), optim)
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def cpu_peak_rss(args, which):
    """Peak RSS (MiB) of a fresh process training ``which`` for the same
    number of steps."""
    cmd = [
        sys.executable, __file__, '--memory-only', which, '--iters',
        str(args.iters), '--warmup',
        str(args.warmup), '--device', 'cpu', '--stock', args.stock, '--causal',
        args.causal
    ]
    if args.synthetic:
        cmd += ['--synthetic', args.synthetic]
    if args.batch_size:
        cmd += ['--batch-size', str(args.batch_size)]
    if args.cfg_options:
        cmd += ['--cfg-options'] + args.cfg_options
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main():
    args = parse_args()
    dev = args.device
    cfgs = {
        'stock': load_cfg(args.stock, args.cfg_options),
        'causal': load_cfg(args.causal, args.cfg_options)
    }
    data = batches(cfgs['stock'], args, args.warmup + args.iters)

    if args.memory_only:
        model, optim = build(cfgs[args.memory_only], dev)
        for d in data:
            step(model, optim, d, dev)
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(peak_kib / 1024)
        return

    models = {k: build(cfg, dev) for k, cfg in cfgs.items()}
    times = {k: [] for k in models}
    peaks = {k: [] for k in models}
    for i, d in enumerate(data):
        for name, (model, optim) in models.items():
            if dev.startswith('cuda'):
                torch.cuda.reset_peak_memory_stats()
            start = time.perf_counter()
            step(model, optim, d, dev)
            elapsed = time.perf_counter() - start
            if i >= args.warmup:
                times[name].append(elapsed)
                if dev.startswith('cuda'):
                    peaks[name].append(torch.cuda.max_memory_allocated() /
                                       2**20)
        if i >= args.warmup:
            print(
                f'iter {i - args.warmup + 1}/{args.iters}: stock '
                f'{times["stock"][-1]:.3f} s, causal '
                f'{times["causal"][-1]:.3f} s',
                flush=True)
    if dev.startswith('cuda'):
        mem = {k: max(v) for k, v in peaks.items()}
        mem_kind = 'max_memory_allocated (MiB)'
        device_name = torch.cuda.get_device_name()
    else:
        mem = {k: cpu_peak_rss(args, k) for k in models}
        mem_kind = 'peak RSS of a separate process (MiB)'
        device_name = f'CPU ({torch.get_num_threads()} threads)'
    med = {k: statistics.median(v) for k, v in times.items()}
    bs = len(data[0]['inputs'])
    result = dict(
        device=device_name,
        stock=args.stock,
        causal=args.causal,
        iters=args.iters,
        batch_size=bs,
        synthetic=args.synthetic,
        time_s=med,
        images_per_s={
            k: bs / v
            for k, v in med.items()
        },
        time_ratio=med['causal'] / med['stock'],
        memory_mib=mem,
        memory_kind=mem_kind,
        memory_ratio=mem['causal'] / mem['stock'])
    print(f'device: {device_name}; batch {bs}; {args.iters} interleaved '
          f'iterations after {args.warmup} warm-up, medians')
    print(f'{"":<28}{"stock":>10}{"causal":>10}{"ratio":>8}')
    print(f'{"iteration time (s)":<28}{med["stock"]:>10.3f}'
          f'{med["causal"]:>10.3f}{result["time_ratio"]:>8.3f}')
    print(f'{"images / s":<28}{bs / med["stock"]:>10.2f}'
          f'{bs / med["causal"]:>10.2f}')
    print(f'{"peak memory (MiB)":<28}{mem["stock"]:>10.0f}'
          f'{mem["causal"]:>10.0f}{result["memory_ratio"]:>8.3f}  '
          f'[{mem_kind}]')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=1)


if __name__ == '__main__':
    main()
