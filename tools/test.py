# Copyright (c) mmdet-causal contributors. All rights reserved.
"""Test (and evaluate) a detector: mmdet's tools/test.py, plus

* ``--eval bbox segm``: the mmdet 2.x habit, sets the evaluator's metrics;
* ``--tde-alpha A``: sets alpha on every causal box head (no retraining);
* ``--no-tde``: the plain de-confounded model (TDE off);
* ``--metrics-out FILE``: the metrics and the heads' cos statistics as JSON;
* ``--tde-alphas A ...`` / ``--norcal-gammas G ...``: test at every
  (alpha, gamma) pair from one inference pass (``DebiasSweepTestLoop``; works
  with ``tools/dist_test.sh`` and ``tools/slurm_test.sh``), writing
  ``sweep.md``, ``sweep.json`` and ``sweep.png`` to ``--sweep-out``;
  ``--norcal-gamma G`` is NorCal at one strength; ``--class-counts FILE``
  names the training annotations NorCal counts come from (default: the
  counts stored in the checkpoint);
* ``--select-on ANN_FILE`` / ``--select-metric M``: choose the strength on a
  held-out split and report the test set at it.

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
from mmengine.logging import print_log
from mmengine.runner import Runner

import mmdet_causal  # noqa: F401  (registers the causal modules)
from mmdet_causal.datasets.dataset_checks import (explaining_empty_dataset,
                                                  innermost_dataset_cfg)
from mmdet_causal.utils import (TDEProbe, add_custom_hooks, causal_bbox_heads,
                                check_launcher_env, configure_tde,
                                rule_of_thumb_alpha, trust_local_checkpoints)


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
    sweep = parser.add_argument_group(
        'test-time strength sweep (one inference pass, any launcher)')
    sweep.add_argument(
        '--tde-alphas',
        type=float,
        nargs='+',
        metavar='A',
        help='TDE alphas to evaluate (causal box heads)')
    sweep.add_argument(
        '--norcal-gammas',
        type=float,
        nargs='+',
        metavar='G',
        help='NorCal gammas to evaluate (any softmax box head); every '
        '(alpha, gamma) pair is evaluated')
    sweep.add_argument(
        '--norcal-gamma',
        type=float,
        metavar='G',
        help='NorCal at one strength (same as --norcal-gammas G)')
    sweep.add_argument(
        '--class-counts',
        metavar='ANN_FILE',
        help='training annotation file whose per-class counts NorCal uses '
        '(default: the counts stored in the checkpoint by tools/train.py)')
    sweep.add_argument(
        '--count-by',
        choices=['instance', 'image'],
        help='NorCal N_c: training instances (default) or training images '
        'per class (the NorCal authors\' code)')
    sweep.add_argument(
        '--select-on',
        metavar='ANN_FILE',
        help='held-out annotation file on which to choose the strength '
        '(e.g. carved from train by tools/dataset_converters/'
        'lvis_heldout_split.py); the test metrics at it are reported')
    sweep.add_argument(
        '--select-metric',
        help='metric that chooses the strength, e.g. bbox_AP, segm_AP, '
        'bbox_APr (default: the config\'s, else bbox_AP)')
    sweep.add_argument(
        '--sweep-out',
        help='directory for sweep.md/json/png (default: WORK_DIR/sweep)')
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
    if args.norcal_gamma is not None:
        if args.norcal_gammas:
            parser.error('give --norcal-gamma or --norcal-gammas, not both')
        args.norcal_gammas = [args.norcal_gamma]
    if args.tde_alphas and (args.tde_alpha is not None or args.no_tde):
        parser.error('--tde-alphas sweeps alpha; drop --tde-alpha/--no-tde')
    args.sweep = bool(args.tde_alphas or args.norcal_gammas or args.select_on)
    if args.select_on and not (args.tde_alphas or args.norcal_gammas):
        parser.error('--select-on chooses among strengths: give them with '
                     '--tde-alphas and/or --norcal-gammas')
    if args.sweep and (args.out or args.tta):
        parser.error('--out and --tta are not supported with a strength '
                     'sweep (--tde-alphas, --norcal-gammas, --select-on); '
                     'test one strength at a time with --tde-alpha instead')
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


def set_sweep_loop(cfg: Config, args) -> None:
    """Make ``cfg.test_cfg`` a ``DebiasSweepTestLoop`` with the sweep flags
    (keeping what a config's own sweep loop sets and the flags omit)."""
    loop = dict(cfg.get('test_cfg') or {})
    if loop.get('type') not in ('DebiasSweepTestLoop', 'TestLoop', None):
        raise ValueError(
            f'the config\'s test loop is {loop["type"]}, which a strength '
            'sweep (DebiasSweepTestLoop) would replace; test one strength '
            'at a time with --tde-alpha instead')
    if loop.get('type') != 'DebiasSweepTestLoop':
        loop = dict(fp16=loop['fp16']) if 'fp16' in loop else {}
    loop['type'] = 'DebiasSweepTestLoop'
    options = dict(
        alphas=args.tde_alphas,
        norcal_gammas=args.norcal_gammas,
        class_counts=args.class_counts,
        count=args.count_by and f'{args.count_by}_count',
        select_on=args.select_on,
        select_metric=args.select_metric,
        out_dir=args.sweep_out)
    # a flag overrides the config; an omitted one leaves it as it is
    loop.update({k: v for k, v in options.items() if v is not None})
    cfg.test_cfg = loop


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
        test_data_cfg = innermost_dataset_cfg(cfg.test_dataloader.dataset)
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


def report_cos(stats: list) -> None:
    """Log each causal stage's mean cos and the rule-of-thumb alpha (on the
    main process)."""
    for i, s in enumerate(stats):
        if s['mean'] is not None:
            per_head = ', '.join(f'{c:.4f}' for c in s['per_head'])
            print_log(
                f'causal stage {i}: mean cos {s["mean"]:.4f} (per head: '
                f'{per_head}) over {s["num_rois"]} RoIs',
                logger='current')
    alpha = rule_of_thumb_alpha(stats)
    if alpha is not None:
        print_log(
            f'rule-of-thumb alpha (mean alpha*cos = 1): {alpha:.3f}',
            logger='current')


def main():
    args = parse_args()
    check_launcher_env(args.launcher, 'test')
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
    if args.sweep:
        set_sweep_loop(cfg, args)

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
    add_custom_hooks(cfg, 'ClassCountCheckHook', 'TrainClassCountsHook')

    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)

    if args.out is not None:
        assert args.out.endswith(('.pkl', '.pickle')), \
            'The dump file must be a pkl file.'
        runner.test_evaluator.metrics.append(
            DumpDetResults(out_file_path=args.out))

    # a sweep loop probes its own test pass
    sweeping = (cfg.get('test_cfg') or {}).get('type') == 'DebiasSweepTestLoop'
    heads = [] if sweeping else causal_bbox_heads(runner.model)
    with TDEProbe(heads) as probe:
        with explaining_empty_dataset(cfg.test_dataloader.dataset, 'test'):
            metrics = runner.test()
    # a sweep loop has the statistics of its test pass in its report
    cos_stats = getattr(runner.test_loop, 'cos_stats', None)
    if cos_stats is None:
        cos_stats = probe.cos_stats(sync=True)  # every rank calls this
        report_cos(cos_stats)
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
