# Copyright (c) mmdet-causal contributors. All rights reserved.
"""Test (and evaluate) a detector: mmdet's tools/test.py, plus

* ``--eval bbox segm``: the mmdet 2.x habit, sets the evaluator's metrics;
* ``--tde-alpha A``: sets alpha on every causal box head (no retraining);
* ``--no-tde``: the plain de-confounded model (TDE off);
* ``--metrics-out FILE``: the metrics and the heads' cos statistics as JSON.

After testing it prints the mean cos of each causal stage and the
rule-of-thumb alpha (mean of alpha * cos ~ 1).
"""
import argparse
import json
import os
import os.path as osp
import warnings
from copy import deepcopy

from mmdet.engine.hooks.utils import trigger_visualization_hook
from mmdet.evaluation import DumpDetResults
from mmdet.registry import RUNNERS
from mmdet.utils import setup_cache_size_limit_of_dynamo
from mmengine import ConfigDict
from mmengine.config import Config, DictAction
from mmengine.dist import is_main_process
from mmengine.runner import Runner

import mmdet_causal  # noqa: F401  (registers the causal modules)
from mmdet_causal.utils import (add_custom_hooks, collect_cos_stats,
                                configure_tde, rule_of_thumb_alpha,
                                trust_local_checkpoints)


def parse_args():
    parser = argparse.ArgumentParser(
        description='MMDet test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='the directory to save the file containing evaluation metrics')
    parser.add_argument(
        '--out',
        type=str,
        help='dump predictions to a pickle file for offline evaluation')
    parser.add_argument(
        '--eval',
        nargs='+',
        metavar='METRIC',
        help='metrics of the test evaluator, e.g. "bbox segm" '
        '(mmdet 2.x style; overrides test_evaluator.metric)')
    parser.add_argument(
        '--tde-alpha',
        type=float,
        metavar='A',
        help='set alpha of every causal box head (test time only)')
    parser.add_argument(
        '--no-tde',
        action='store_true',
        help='disable TDE: plain de-confounded scores (same as alpha 0)')
    parser.add_argument(
        '--metrics-out',
        help='write the metrics and the causal heads\' cos statistics to '
        'this JSON file')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='directory where painted images will be saved. '
        'If specified, it will be automatically saved '
        'to the work_dir/timestamp/show_dir')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file. If the value to '
        'be overwritten is a list, it should be like key="[a,b]" or key=a,b '
        'It also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" '
        'Note that the quotation marks are necessary and that no white space '
        'is allowed.')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--tta', action='store_true')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if args.no_tde and args.tde_alpha is not None:
        parser.error('--no-tde and --tde-alpha exclude each other')
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def set_eval_metrics(cfg: Config, metrics) -> None:
    """Point the test evaluator(s) at ``metrics`` (``--eval``)."""
    evaluators = cfg.test_evaluator
    if isinstance(evaluators, dict):
        evaluators = [evaluators]
    changed = 0
    for evaluator in evaluators:
        takes_metric = 'metric' in evaluator or str(evaluator.get(
            'type', '')).endswith(('LVISMetric', 'CocoMetric'))
        if takes_metric:
            evaluator['metric'] = list(metrics)
            changed += 1
    if not changed:
        raise ValueError(
            '--eval needs a test_evaluator with a "metric" option (such as '
            'LVISMetric or CocoMetric); set test_evaluator in the config')


def apply_tta(cfg: Config) -> Config:
    """mmdet's --tta handling, unchanged."""
    if 'tta_model' not in cfg:
        warnings.warn('Cannot find ``tta_model`` in config, '
                      'we will set it as default.')
        cfg.tta_model = dict(
            type='DetTTAModel',
            tta_cfg=dict(
                nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))
    if 'tta_pipeline' not in cfg:
        warnings.warn('Cannot find ``tta_pipeline`` in config, '
                      'we will set it as default.')
        test_data_cfg = cfg.test_dataloader.dataset
        while 'dataset' in test_data_cfg:
            test_data_cfg = test_data_cfg['dataset']
        cfg.tta_pipeline = deepcopy(test_data_cfg.pipeline)
        flip_tta = dict(
            type='TestTimeAug',
            transforms=[
                [
                    dict(type='RandomFlip', prob=1.),
                    dict(type='RandomFlip', prob=0.)
                ],
                [
                    dict(
                        type='PackDetInputs',
                        meta_keys=('img_id', 'img_path', 'ori_shape',
                                   'img_shape', 'scale_factor', 'flip',
                                   'flip_direction'))
                ],
            ])
        cfg.tta_pipeline[-1] = flip_tta
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    return cfg


def report_cos(model) -> list:
    """Print each causal stage's mean cos and the rule-of-thumb alpha."""
    stats = collect_cos_stats(model)
    for i, s in enumerate(stats):
        if s['mean'] is not None:
            per_head = ', '.join(f'{c:.4f}' for c in s['per_head'])
            print(f'causal stage {i}: mean cos {s["mean"]:.4f} '
                  f'(per head: {per_head}) over {s["num_rois"]} RoIs')
    alpha = rule_of_thumb_alpha(stats)
    if alpha is not None:
        print(f'rule-of-thumb alpha (mean alpha*cos = 1): {alpha:.3f}')
    return stats


def main():
    args = parse_args()
    setup_cache_size_limit_of_dynamo()
    # --resume / load_from name local files: load them on torch >= 2.6
    trust_local_checkpoints()

    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.tde_alpha is not None or args.no_tde:
        configure_tde(
            cfg.model,
            alpha=args.tde_alpha,
            use_tde=False if args.no_tde else None)
    if args.eval:
        set_eval_metrics(cfg, args.eval)

    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    cfg.load_from = args.checkpoint

    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)
    if args.tta:
        cfg = apply_tta(cfg)
    add_custom_hooks(cfg, 'ClassCountCheckHook')

    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)

    if args.out is not None:
        assert args.out.endswith(('.pkl', '.pickle')), \
            'The dump file must be a pkl file.'
        runner.test_evaluator.metrics.append(
            DumpDetResults(out_file_path=args.out))

    metrics = runner.test()
    cos_stats = report_cos(runner.model)
    if args.metrics_out and is_main_process():
        os.makedirs(osp.dirname(osp.abspath(args.metrics_out)), exist_ok=True)
        with open(args.metrics_out, 'w') as f:
            json.dump(
                dict(
                    config=args.config,
                    checkpoint=args.checkpoint,
                    metrics={
                        k: float(v)
                        for k, v in metrics.items()
                    },
                    cos_stats=cos_stats,
                    rule_of_thumb_alpha=rule_of_thumb_alpha(cos_stats)),
                f,
                indent=1)


if __name__ == '__main__':
    main()
