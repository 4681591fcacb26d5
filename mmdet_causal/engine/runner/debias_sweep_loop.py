# Copyright (c) mmdet-causal contributors. All rights reserved.
import copy
import os.path as osp
import time
from typing import Dict, Optional, Sequence, Union

import torch
from mmdet.registry import LOOPS
from mmengine.dist import get_world_size, is_main_process
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import TestLoop, autocast

from mmdet_causal.apis.debias_sweep import (DebiasSweeper, Strength,
                                            strength_grid)
from mmdet_causal.datasets.dataset_checks import (EMPTY_DATASET_MESSAGE,
                                                  innermost_dataset_cfg,
                                                  leaf_datasets)
from mmdet_causal.engine.hooks.train_class_counts_hook import CHECKPOINT_KEY
from mmdet_causal.models.roi_heads.bbox_heads import CausalConvFCBBoxHead
from mmdet_causal.models.utils.norcal import norcal_log_counts
from mmdet_causal.models.utils.tde_probe import TDEProbe, rule_of_thumb_alpha
from mmdet_causal.utils.class_counts import (check_count_field,
                                             counts_from_lvis_json,
                                             select_counts)
from mmdet_causal.utils.tde import causal_bbox_heads, stage_bbox_heads
from .strength_selection import (check_select_metric, check_select_set,
                                 metric_parts, pick)
from .sweep_report import write_sweep_report

#: Metric-state attributes holding loaded ground truth, shared between the
#: evaluators of one split (evaluation only reads them).
_GT_ATTRS = ('_lvis_api', '_coco_api')


def _metric_cfgs(evaluator_cfg) -> list:
    if isinstance(evaluator_cfg, dict) and 'metrics' in evaluator_cfg:
        evaluator_cfg = evaluator_cfg['metrics']
    return evaluator_cfg if isinstance(evaluator_cfg,
                                       list) else [evaluator_cfg]


def _resolve(path: str, data_root: Optional[str]) -> str:
    """An annotation file as given (relative to the working directory) or,
    failing that, under the dataset's ``data_root``; absolute either way, so
    that the dataset and the evaluator read the same file."""
    if osp.exists(path):
        return osp.abspath(path)
    if data_root and osp.exists(osp.join(data_root, path)):
        return osp.abspath(osp.join(data_root, path))
    raise FileNotFoundError(
        f'select_on {path}: no such file (also looked under data_root '
        f'{data_root}); carve one with tools/dataset_converters/'
        'lvis_heldout_split.py')


def _per_strength(evaluator_cfg, setting: Strength, split: str):
    """A copy of the evaluator config whose output files, if any, are named
    after the split and strength (one file per strength, none overwritten).
    """
    cfg = copy.deepcopy(evaluator_cfg)
    for m in _metric_cfgs(cfg):
        if m.get('outfile_prefix'):
            m['outfile_prefix'] = (f'{m["outfile_prefix"]}_{split}_'
                                   f'{setting.name}')
    return cfg


def _configured_alpha(model) -> Optional[list]:
    """``[alpha]`` of a model whose causal box heads all apply TDE at one
    alpha; None otherwise (stock heads, TDE off)."""
    heads = stage_bbox_heads(model)
    # every stage causal with TDE on (a partly causal cascade sweeps gammas
    # with its heads' own scores, as before)
    if not all(
            isinstance(h, CausalConvFCBBoxHead) and h.use_tde for h in heads):
        return None
    alphas = {h.alpha for h in heads}
    return list(alphas) if len(alphas) == 1 else None


def _counts_source(class_counts) -> str:
    if isinstance(class_counts, str):
        return class_counts
    return 'checkpoint' if class_counts is None else 'given in the config'


def _find_metric(metrics: Dict[str, float], name: str) -> str:
    """The key of ``metrics`` that ``name`` ('bbox_AP', 'segm_APr', or a
    full key such as 'lvis/bbox_AP') denotes."""
    keys = [k for k in metrics if k == name or k.endswith('/' + name)]
    if len(keys) != 1:
        raise ValueError(
            f'select_metric {name!r} names {len(keys)} of the evaluator\'s '
            f'metrics ({", ".join(sorted(metrics))}); use one of them, e.g. '
            '"bbox_AP" or "segm_APr", and evaluate its iou type')
    return keys[0]


@LOOPS.register_module()
class DebiasSweepTestLoop(TestLoop):
    """Test at many post-hoc strengths from one pass of the network.

    Every pair of ``alphas`` (TDE, causal box heads) and ``norcal_gammas``
    (NorCal, any softmax box head) is evaluated with the config's test
    evaluator; the network runs once per image (:class:`DebiasSweeper`),
    on as many processes as the launcher starts, and each strength's results
    are gathered across ranks by mmengine's ``Evaluator``. The detections at
    a strength are those of a plain test run at it (``tools/test.py
    --tde-alpha A``, or ``norcal_calibration``).

    With ``select_on``, the strength is chosen without looking at the test
    set: every strength is also evaluated on a held-out annotation file
    (e.g. carved from train by
    ``tools/dataset_converters/lvis_heldout_split.py``), the best by
    ``select_metric`` is picked there, and the test metrics at that strength
    are returned under the evaluator's own keys, the others under
    ``'<strength>/<key>'``. A table, a JSON and a plot go to ``out_dir``.

    Config::

        test_cfg = dict(
            type='DebiasSweepTestLoop',
            alphas=[0, 0.5, 1, 1.5, 2, 2.5],
            norcal_gammas=[0, 0.4, 0.8],
            class_counts='data/lvis_v1/annotations/lvis_v1_train.json',
            select_on='data/lvis_v1/annotations/lvis_v1_heldout.json',
            select_metric='segm_AP')

    Args:
        runner: The runner.
        dataloader: The test dataloader (or its config).
        evaluator: The test evaluator (or its config).
        alphas (list[float], optional): TDE alphas. None leaves the box
            heads' scores as configured.
        norcal_gammas (list[float], optional): NorCal gammas. None applies
            no calibration.
        class_counts (str | dict, optional): For NorCal: the training
            annotation file (LVIS/COCO format) or a counts record. None takes
            the counts stored in the checkpoint by ``TrainClassCountsHook``.
            Never the test or selection file.
        count (str): ``'instance_count'`` (NorCal's N_c, the default) or
            ``'image_count'``.
        select_on (str, optional): Held-out annotation file, read with the
            test dataloader's settings (same image root; LVIS resolves
            images from ``coco_url``).
        select_metric (str): Metric that picks the strength, e.g.
            ``'bbox_AP'``, ``'segm_AP'``, ``'bbox_APr'``. Ties go to the
            first strength in sweep order (smallest alpha, then gamma).
        out_dir (str, optional): Where ``sweep.json``, ``sweep.md`` and
            ``sweep.png`` go. Defaults to ``<work_dir>/sweep``.
        fp16 (bool): Inference under autocast. Defaults to False.
    """

    def __init__(self,
                 runner,
                 dataloader,
                 evaluator,
                 alphas: Optional[Sequence[float]] = None,
                 norcal_gammas: Optional[Sequence[float]] = None,
                 class_counts: Union[str, dict, None] = None,
                 count: str = 'instance_count',
                 select_on: Optional[str] = None,
                 select_metric: str = 'bbox_AP',
                 out_dir: Optional[str] = None,
                 fp16: bool = False) -> None:
        loader_cfg = copy.deepcopy(
            dataloader if isinstance(dataloader, dict) else runner.cfg.
            get('test_dataloader'))
        evaluator_cfg = copy.deepcopy(
            evaluator if isinstance(evaluator, (
                dict, list)) else runner.cfg.get('test_evaluator'))
        if not alphas and norcal_gammas:
            # a model with TDE on runs at its configured alpha: the rows
            # say so ('alpha=1.5,gamma=0'), and gamma 0 is that model
            alphas = _configured_alpha(runner.model)
        self.settings = strength_grid(alphas, norcal_gammas)
        # one evaluator per strength, and the selection set, are built from
        # the configs
        if evaluator_cfg is None and len(self.settings) > 1:
            raise ValueError(
                'DebiasSweepTestLoop builds an evaluator per strength from '
                'the test_evaluator config; give the Runner test_evaluator '
                'as a config (dict), not a built Evaluator')
        if loader_cfg is None and select_on is not None:
            raise ValueError(
                'DebiasSweepTestLoop builds the selection dataloader from the '
                'test_dataloader config; give the Runner test_dataloader as '
                'a config (dict), not a built DataLoader')
        super().__init__(runner, dataloader, evaluator, fp16)
        self.class_counts = class_counts
        self.count = check_count_field(count)
        self.select_metric = select_metric
        self.out_dir = out_dir or osp.join(runner.work_dir, 'sweep')
        meta = getattr(self.dataloader.dataset, 'metainfo', None)
        self.evaluators = self._evaluators(evaluator_cfg, meta, self.evaluator)
        self.select_on = select_on  # as given, for the report
        if select_on is not None:
            check_select_metric(select_metric, self.evaluator.metrics)
            self._build_selection(loader_cfg, evaluator_cfg)

    def _build_selection(self, loader_cfg: dict, evaluator_cfg) -> None:
        """The held-out split's dataloader (the test dataloader's settings,
        another annotation file) and its evaluators, one per strength."""
        select_cfg = copy.deepcopy(loader_cfg)
        dataset_cfg = innermost_dataset_cfg(select_cfg['dataset'])
        select_on = _resolve(self.select_on, dataset_cfg.get('data_root'))
        dataset_cfg['ann_file'] = select_on
        try:
            self.select_dataloader = self.runner.build_dataloader(
                select_cfg, seed=self.runner.seed)
        except ValueError as e:
            if EMPTY_DATASET_MESSAGE not in str(e):
                raise
            # mmengine's message for a dataset without images
            raise ValueError(
                f'the selection set {select_on} has no images to test '
                '(after the test dataset\'s filters); carve a larger '
                'held-out split') from e
        check_select_set(select_on, self._ann_file(self.dataloader),
                         self.select_metric)
        select_eval_cfg = copy.deepcopy(evaluator_cfg)
        for m in _metric_cfgs(select_eval_cfg):
            if 'ann_file' in m:
                m['ann_file'] = select_on
        self.select_evaluators = self._evaluators(
            select_eval_cfg,
            self.select_dataloader.dataset.metainfo,
            split='select')

    def _evaluators(self,
                    evaluator_cfg,
                    dataset_meta,
                    first=None,
                    split='test') -> dict:
        """One evaluator per strength; ground truth is loaded once; files a
        metric writes (``outfile_prefix``) get the strength's name."""
        evaluators = {}
        for setting in self.settings:
            cfg = _per_strength(evaluator_cfg, setting, split)
            if first is None:
                first = evaluator = self.runner.build_evaluator(cfg)
            elif not evaluators:
                evaluator = first  # built by TestLoop from the plain config
                for metric, m in zip(evaluator.metrics, _metric_cfgs(cfg)):
                    if m.get('outfile_prefix'):
                        metric.outfile_prefix = m['outfile_prefix']
            else:
                for m in _metric_cfgs(cfg):
                    if 'ann_file' in m:
                        m['ann_file'] = None
                evaluator = self.runner.build_evaluator(cfg)
                for metric, metric0 in zip(evaluator.metrics, first.metrics):
                    for attr in (*_GT_ATTRS, 'ann_file'):
                        if getattr(metric0, attr, None) is not None:
                            setattr(metric, attr, getattr(metric0, attr))
            if dataset_meta is not None:
                evaluator.dataset_meta = dataset_meta
            evaluators[setting] = evaluator
        return evaluators

    # ------------------------------------------------------------------
    def _log_counts(self) -> Optional[torch.Tensor]:
        """``log N_c`` for NorCal, from the named file or the checkpoint."""
        if all(s.gamma is None for s in self.settings):
            return None
        source = self.class_counts
        if source is None:
            record = self.runner.message_hub.get_info(CHECKPOINT_KEY)
            if record is None:
                raise ValueError(
                    'NorCal needs the class counts of the training set: '
                    'pass --class-counts with the training annotation file '
                    '(e.g. data/lvis_v1/annotations/lvis_v1_train.json; '
                    'test_cfg.class_counts in a config), or test a '
                    'checkpoint saved by tools/train.py, which stores them')
        elif isinstance(source, str):
            forbidden = {
                osp.realpath(p)
                for p in (
                    self._ann_file(self.dataloader),
                    self.select_on and self._ann_file(self.select_dataloader))
                if p
            }
            if osp.realpath(source) in forbidden:
                raise ValueError(
                    f'class_counts {source} is the test or selection '
                    'annotation file; NorCal counts come from the training '
                    'set only')
            record = counts_from_lvis_json(source)
        else:
            record = dict(source)
        classes = self.dataloader.dataset.metainfo.get('classes')
        counts = select_counts(record, self.count, classes)
        print_log(
            f'NorCal: {self.count} of {len(counts)} classes from '
            f'{record.get("source", "the checkpoint")}',
            logger='current')
        return norcal_log_counts(counts)

    @staticmethod
    def _ann_file(dataloader) -> Optional[str]:
        """The annotation file of a dataloader reading one (None for a
        concatenation of several)."""
        leaves = leaf_datasets(dataloader.dataset)
        return getattr(leaves[0], 'ann_file',
                       None) if len(leaves) == 1 else None

    def _pass(self, sweeper, dataloader, evaluators, call_hooks) -> None:
        """Run the network once over ``dataloader``; every strength's
        detections go to its evaluator."""
        for idx, data_batch in enumerate(dataloader):
            if call_hooks:
                self.runner.call_hook(
                    'before_test_iter', batch_idx=idx, data_batch=data_batch)
            with torch.no_grad(), autocast(enabled=self.fp16):
                per_setting = sweeper.predict(data_batch)
            for setting, samples in per_setting.items():
                evaluators[setting].process(
                    data_samples=samples, data_batch=data_batch)
            if call_hooks:
                # hooks (visualisation, logging) see the first strength
                self.runner.call_hook(
                    'after_test_iter',
                    batch_idx=idx,
                    data_batch=data_batch,
                    outputs=per_setting[self.settings[0]])

    @staticmethod
    def _evaluate(evaluators, size) -> Dict[Strength, Dict[str, float]]:
        return {
            s: {
                k: float(v)
                for k, v in evaluator.evaluate(size).items()
            }
            for s, evaluator in evaluators.items()
        }

    def run(self) -> dict:
        """Sweep; returns the test metrics of every strength as
        ``'<strength>/<key>'``, and with ``select_on`` the test metrics at the
        selected strength under the plain keys."""
        self.runner.call_hook('before_test')
        self.runner.call_hook('before_test_epoch')
        start = time.perf_counter()
        model = self.runner.model
        model = model.module if is_model_wrapper(model) else model
        model.eval()
        evaluators = list(self.evaluators.values())
        if self.select_on is not None:
            evaluators += list(self.select_evaluators.values())
        sweeper = DebiasSweeper(
            model,
            self.settings,
            log_counts=self._log_counts(),
            with_masks=_needs_masks(evaluators))
        select = None
        if self.select_on is not None:
            self._log_pass(f'the selection set {self.select_on}',
                           self.select_dataloader, '')
            self._pass(
                sweeper,
                self.select_dataloader,
                self.select_evaluators,
                call_hooks=False)
            select = self._evaluate(self.select_evaluators,
                                    len(self.select_dataloader.dataset))
        self._log_pass('the test set', self.dataloader, ', one inference')
        infer_start = time.perf_counter()
        # the cos statistics of the test pass
        with TDEProbe(causal_bbox_heads(model)) as probe:
            self._pass(
                sweeper, self.dataloader, self.evaluators, call_hooks=True)
        timing = dict(inference_s=time.perf_counter() - infer_start)
        test = self._evaluate(self.evaluators, len(self.dataloader.dataset))
        metrics = {
            f'{s.name}/{k}': v
            for s, values in test.items()
            for k, v in values.items()
        }
        selected = None if select is None else self._selected(select, test)
        if selected is not None:
            metrics.update(selected['test_metrics'])
        # on every rank; for tools/test.py --metrics-out
        self.cos_stats = probe.cos_stats(sync=True)
        if is_main_process():
            timing['total_s'] = time.perf_counter() - start
            self._report(test, select, selected, sweeper, timing)
        self.runner.call_hook('after_test_epoch', metrics=metrics)
        self.runner.call_hook('after_test')
        return metrics

    def _log_pass(self, what: str, dataloader, note: str) -> None:
        """Say what a pass over ``dataloader`` is about to score."""
        names = ', '.join(s.name for s in self.settings)
        print_log(
            f'sweep: {len(self.settings)} strengths ({names}) on {what} '
            f'({len(dataloader.dataset)} images){note}',
            logger='current')

    def _selected(self, select: dict, test: dict) -> dict:
        """The strength best on the selection set, and its test metrics."""
        key = _find_metric(select[self.settings[0]], self.select_metric)
        chosen = pick(select, self.settings, key, self.select_on)
        print_log(
            f'sweep: selected {chosen.name} by {key} on the selection '
            f'set ({100 * select[chosen][key]:.1f}); test metrics at it: ' +
            ', '.join(f'{k} {100 * v:.1f}' for k, v in test[chosen].items()
                      if metric_parts(k)[1] in ('AP', 'APr')),
            logger='current')
        return dict(
            strength=chosen._asdict(),
            name=chosen.name,
            select_metric=key,
            select_value=select[chosen][key],
            test_metrics=test[chosen])

    def _report(self, test, select, selected, sweeper, timing) -> None:
        """``sweep.json``, ``sweep.md`` and ``sweep.png`` in ``out_dir``."""
        report = dict(
            settings=[s._asdict() for s in self.settings],
            test={
                s.name: v
                for s, v in test.items()
            },
            select=None if select is None else {
                s.name: v
                for s, v in select.items()
            },
            select_on=self.select_on,
            selected=selected,
            class_counts=None if sweeper.log_counts is None else dict(
                source=_counts_source(self.class_counts), count=self.count),
            cos_stats=self.cos_stats,
            rule_of_thumb_alpha=rule_of_thumb_alpha(self.cos_stats),
            world_size=get_world_size(),
            **timing)
        table = write_sweep_report(self.out_dir, report, self.settings)
        print_log('\n' + table, logger='current')
        print_log(f'sweep written to {self.out_dir}', logger='current')


def _needs_masks(evaluators) -> bool:
    """Masks (mask head and pasting) only where a metric evaluates segm; a
    metric that does not list its iou types gets them."""
    return any('segm' in getattr(m, 'metrics', ('segm', )) for e in evaluators
               for m in e.metrics)
