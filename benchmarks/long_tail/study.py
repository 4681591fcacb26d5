# Copyright (c) mmdet-causal contributors. All rights reserved.
"""The long-tail study's parts that need no training: the models and rows,
the configs a run trains, the on-disk cache of finished runs, and the
aggregation over seeds (means, standard deviations, selected strengths,
comparisons). ``run.py`` drives them; ``tests/test_benchmarks`` checks them
on synthetic metrics."""
import hashlib
import json
import math
import os
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(osp.dirname(HERE))

#: bumped when a run record's meaning changes, so that old records rerun
RECORD_VERSION = 1
#: the strength a sweep picked on the held-out split
SELECTED = 'selected'
#: the model as configured, tested without a sweep
PLAIN = 'model'
#: TDE alphas and NorCal gammas the held-out split chooses from (the
#: published alpha and "off" are in both grids)
ALPHAS = (0, 0.25, 0.5, 1, 1.5, 2, 2.5, 3)
GAMMAS = (0, 0.1, 0.25, 0.5, 0.75, 1)
#: the quick mode's grids: each row's strength still exists, fewer to test
QUICK_ALPHAS = (0, 1.5, 3)
QUICK_GAMMAS = (0, 0.5, 1)
#: what the held-out split ranks strengths by
SELECT_METRIC = 'bbox_AP'
#: the table's columns
IOU_TYPES = ('bbox', 'segm')
COLUMNS = ('AP', 'APr', 'APc', 'APf')
#: LVIS v1's common/frequent boundary in train images, where mmdet's RFS
#: threshold (1e-3 of ~100k images) sits; the study keeps it in images
RFS_BOUNDARY_IMAGES = 100


@dataclass(frozen=True)
class Model:
    """A trained model of the study.

    Args:
        config (str): The config under ``configs/`` it trains.
        sweep (str | None): ``'tde'`` (alphas), ``'norcal'`` (gammas) or
            None (one plain test).
        rfs (bool): Trained with repeat factor sampling.
    """
    config: str
    sweep: Optional[str] = None
    rfs: bool = False


MODELS: Dict[str, Model] = {
    # the curve models first: seed 0 of both shows early whether the budget
    # converges
    'stock':
    Model('tiny/htc_r18_fpn_tiny-lvis.py', sweep='norcal'),
    'causal':
    Model('tiny/htc-causal_r18_fpn_tiny-lvis.py', sweep='tde'),
    'stock_rfs':
    Model('tiny/htc_r18_fpn_rfs_tiny-lvis.py', rfs=True),
    'seesaw':
    Model('tiny/htc_r18_fpn_seesaw_tiny-lvis.py'),
    'causal_rfs':
    Model('tiny/htc-causal_r18_fpn_rfs_tiny-lvis.py', sweep='tde', rfs=True),
    # last, so that the records made before it was a row keep their order
    'seesaw_rfs':
    Model('tiny/htc_r18_fpn_rfs_seesaw_tiny-lvis.py', rfs=True),
}
#: (row, model, strength): a strength is a sweep name ('alpha=1.5'),
#: SELECTED or PLAIN
ROWS: Tuple[Tuple[str, str, str], ...] = (
    ('stock (linear classifier)', 'stock', 'gamma=0'),
    ('stock + RFS', 'stock_rfs', PLAIN),
    ('Seesaw + normalised linear', 'seesaw', PLAIN),
    ('Seesaw + RFS', 'seesaw_rfs', PLAIN),
    ('stock + NorCal, held-out gamma', 'stock', SELECTED),
    ('de-confound (causal, alpha 0)', 'causal', 'alpha=0'),
    ('TDE, published alpha 1.5', 'causal', 'alpha=1.5'),
    ('TDE, held-out alpha', 'causal', SELECTED),
    ('causal + RFS, alpha 0', 'causal_rfs', 'alpha=0'),
    ('causal + RFS, TDE held-out alpha', 'causal_rfs', SELECTED),
)
#: the row the others are compared with
REFERENCE_ROW = 'TDE, held-out alpha'
#: the models whose seed-0 run also evaluates intermediate checkpoints by
#: default (``run.py --curve-models`` names others)
CURVE_MODELS = ('stock', 'causal')
#: strength at which a model's checkpoints are tested: the trained model
#: without a test-time step
CURVE_STRENGTH = {
    'stock': 'gamma=0',
    'causal': 'alpha=0',
    'causal_rfs': 'alpha=0',
    'stock_rfs': PLAIN,
    'seesaw': PLAIN,
    'seesaw_rfs': PLAIN,
}


def rows_for(models: Sequence[str]) -> List[Tuple[str, str, str]]:
    """The rows whose model is among ``models``, in table order."""
    return [row for row in ROWS if row[1] in models]


# ----------------------------------------------------------------------
# data and configs
# ----------------------------------------------------------------------
@dataclass(frozen=True)
class StudyData:
    """An LVIS-format long-tailed set: train, held-out and val annotation
    files (absolute) and the images' root (``coco_url`` paths resolve under
    it, as ``LVISV1Dataset`` reads them)."""
    data_root: str
    train: str
    heldout: str
    val: str

    def check(self) -> None:
        for split in ('train', 'heldout', 'val'):
            path = getattr(self, split)
            if not osp.isfile(path):
                raise FileNotFoundError(
                    f'{split} annotations {path} not found: the study needs '
                    'train, held-out and val splits (carve a held-out split '
                    'from train with tools/dataset_converters/'
                    'lvis_heldout_split.py, and pass its files with '
                    '--ann-files TRAIN HELDOUT VAL)')

    def categories(self) -> List[dict]:
        with open(self.train) as f:
            return sorted(json.load(f)['categories'], key=lambda c: c['id'])

    def num_train_images(self) -> int:
        with open(self.train) as f:
            return len(json.load(f)['images'])

    def fingerprint(self) -> str:
        """Changes when any split's annotations change."""
        digest = hashlib.sha256()
        for path in (self.train, self.heldout, self.val):
            with open(path, 'rb') as f:
                digest.update(hashlib.sha256(f.read()).digest())
        return digest.hexdigest()[:16]


def study_config(model: str, data: StudyData, iters: int, seed: int,
                 checkpoint_every: int):
    """The config a run trains: the model's config under ``configs/`` with
    the study's data (classes from the train file), an iteration budget
    (every model gets the same number of iterations, whatever its sampler
    does to the epoch length) on the tiny config's schedule shape (warm-up,
    one step of the learning rate at three quarters), a seed, and per-class
    LVIS evaluation. RFS models repeat the classes seen in fewer than
    ``RFS_BOUNDARY_IMAGES`` train images."""
    from mmengine.config import Config

    from mmdet_causal.datasets.dataset_checks import innermost_dataset_cfg
    cfg = Config.fromfile(osp.join(ROOT, 'configs', MODELS[model].config))
    cats = data.categories()
    classes = tuple(c['name'] for c in cats)
    num_classes = len(classes)
    roi = cfg.model.roi_head
    for head in roi.bbox_head + roi.mask_head:
        head.num_classes = num_classes
        if 'num_classes' in head.get('loss_cls', {}):  # Seesaw
            head.loss_cls.num_classes = num_classes
    metainfo = dict(classes=classes)
    data_root = data.data_root.rstrip('/') + '/'
    for loader, ann in ((cfg.train_dataloader, data.train),
                        (cfg.val_dataloader, data.val), (cfg.test_dataloader,
                                                         data.val)):
        dataset = innermost_dataset_cfg(loader.dataset)
        dataset.update(data_root=data_root, ann_file=ann, metainfo=metainfo)
    if MODELS[model].rfs:
        cfg.train_dataloader.dataset.oversample_thr = (
            RFS_BOUNDARY_IMAGES / data.num_train_images())
    for name in ('val_evaluator', 'test_evaluator'):
        cfg[name] = dict(cfg[name], ann_file=data.val, classwise=True)
    cfg.train_cfg = dict(
        type='IterBasedTrainLoop', max_iters=iters, val_interval=iters + 1)
    cfg.param_scheduler = [
        dict(
            type='LinearLR',
            start_factor=0.01,
            by_epoch=False,
            begin=0,
            end=min(50, iters)),
        dict(
            type='MultiStepLR',
            by_epoch=False,
            begin=0,
            end=iters,
            milestones=[max(1, round(0.75 * iters))],
            gamma=0.1)
    ]
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook',
        by_epoch=False,
        interval=checkpoint_every,
        max_keep_ckpts=-1,
        save_last=True)
    cfg.default_hooks.logger.interval = 50
    cfg.log_processor = dict(by_epoch=False)
    cfg.randomness = dict(seed=seed)
    return cfg


def _digest(cfg_dict: dict) -> str:
    text = json.dumps(cfg_dict, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def config_fingerprint(cfg) -> str:
    """Changes when the config a run trains changes."""
    return _digest(cfg.to_dict())


def _name_normed_linear_temperature(node):
    """``node`` with every ``NormedLinear`` that leaves its temperature at
    the default naming it, as mmdet 3.3 spells it (``tempearture=20``)."""
    if isinstance(node, (list, tuple)):
        return [_name_normed_linear_temperature(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _name_normed_linear_temperature(v) for k, v in node.items()}
    if (out.get('type') == 'NormedLinear'
            and not {'temperature', 'tempearture'} & set(out)):
        out['tempearture'] = 20
    return out


def config_fingerprints(cfg) -> List[str]:
    """The config's fingerprint, then those of the older spellings of the
    same model whose records are still the same run's.

    One older spelling: the Seesaw configs named ``NormedLinear``'s
    temperature, at its default 20, until they had to build on the onedl
    fork too, which spells the keyword ``temperature`` where mmdet 3.3 has
    ``tempearture``; the records made before that hold the fingerprint of
    the config that named it (``tests/test_configs.py`` checks that the
    built classifier's temperature is 20 on both stacks).
    """
    own = cfg.to_dict()
    fingerprints = [_digest(own)]
    named = _digest(_name_normed_linear_temperature(own))
    return fingerprints + ([named] if named != fingerprints[0] else [])


# ----------------------------------------------------------------------
# the cache of finished runs
# ----------------------------------------------------------------------
def run_key(model: str, seed: int) -> str:
    return f'{model}_seed{seed}'


class RunCache:
    """Finished (model, seed) runs, one JSON record each under ``root``.

    A record holds what the aggregation reads (the val metrics per
    strength, the held-out selection, the curve, the times) and the
    fingerprints of what made it (data, config, budget, grids): a record
    made with other inputs is not a hit, so a changed study reruns only
    what changed, and an interrupted one resumes at the first run without a
    record. Records are written atomically (no half-written record is ever
    read as finished).
    """

    def __init__(self, root: str) -> None:
        self.root = root

    def path(self, model: str, seed: int) -> str:
        return osp.join(self.root, run_key(model, seed) + '.json')

    def get(
        self,
        model: str,
        seed: int,
        inputs: Dict[str, object],
        config_aliases: Sequence[str] = ()
    ) -> Optional[dict]:
        """The record of a run made with ``inputs``, or with ``inputs``
        whose config fingerprint is one of ``config_aliases`` (an older
        spelling of the same config: :func:`config_fingerprints`), or
        None."""
        path = self.path(model, seed)
        if not osp.isfile(path):
            return None
        with open(path) as f:
            record = json.load(f)
        made_with = [inputs] + [dict(inputs, config=c) for c in config_aliases]
        if record.get('inputs') not in made_with:
            return None
        return record

    def put(self, model: str, seed: int, inputs: Dict[str, object],
            record: dict) -> dict:
        record = dict(record, model=model, seed=seed, inputs=inputs)
        os.makedirs(self.root, exist_ok=True)
        path = self.path(model, seed)
        with open(path + '.part', 'w') as f:
            json.dump(record, f, indent=1, sort_keys=True)
        os.replace(path + '.part', path)
        return record


def run_inputs(model: str,
               data_fingerprint: str,
               cfg_fingerprint: str,
               iters: int,
               alphas: Sequence[float] = ALPHAS,
               gammas: Sequence[float] = GAMMAS) -> Dict[str, object]:
    """What a run's record depends on."""
    sweep = MODELS[model].sweep
    return dict(
        version=RECORD_VERSION,
        data=data_fingerprint,
        config=cfg_fingerprint,
        iters=iters,
        alphas=list(alphas) if sweep == 'tde' else None,
        gammas=list(gammas) if sweep == 'norcal' else None,
        select_metric=SELECT_METRIC if sweep else None)


def record_from_sweep(sweep: dict) -> dict:
    """The part of a sweep report (``sweep.json``) a record keeps: val
    metrics per strength, held-out metrics per strength, the pick."""
    return dict(
        val=sweep['test'],
        heldout=sweep['select'],
        selected=sweep['selected']['name'],
        cos_stats=sweep.get('cos_stats'),
        rule_of_thumb_alpha=sweep.get('rule_of_thumb_alpha'))


def record_from_plain(metrics: dict) -> dict:
    """A record from one plain test's metrics (``--metrics-out``)."""
    return dict(val={PLAIN: metrics}, heldout=None, selected=None)


# ----------------------------------------------------------------------
# aggregation
# ----------------------------------------------------------------------
def metric_key(iou: str, column: str) -> str:
    return f'lvis/{iou}_{column}'


def row_metrics(record: dict, strength: str) -> Dict[str, float]:
    """The val metrics of one run at a row's strength."""
    name = record['selected'] if strength == SELECTED else strength
    if name not in record['val']:
        raise KeyError(f'run {run_key(record["model"], record["seed"])} has '
                       f'no val metrics at {name!r} (it has '
                       f'{sorted(record["val"])})')
    return record['val'][name]


def mean_std(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (n - 1); the deviation is NaN for
    fewer than two values."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, float('nan')
    var = sum((v - mean)**2 for v in values) / (n - 1)
    return mean, math.sqrt(var)


def difference(a: Sequence[float], b: Sequence[float],
               paired: bool) -> Tuple[float, float]:
    """The mean of ``a`` minus that of ``b`` (values of the same seeds, in
    one order) and the spread it is judged against: for two strengths of
    one trained model (``paired``) the standard deviation of the per-seed
    differences, otherwise the larger of the two standard deviations (NaN
    with fewer than two seeds, or a NaN among the values)."""
    if paired:
        return mean_std([x - y for x, y in zip(a, b)])
    (mean_a, std_a), (mean_b, std_b) = mean_std(a), mean_std(b)
    spread = float('nan') if math.isnan(std_a + std_b) else max(std_a, std_b)
    return mean_a - mean_b, spread


def aggregate(records: Dict[Tuple[str, int],
                            dict], rows: Sequence[Tuple[str, str, str]],
              seeds: Sequence[int]) -> dict:
    """Per row: mean and standard deviation over seeds of every table
    column (AP in %), the per-seed values, and the strengths picked on the
    held-out split."""
    out = {}
    for row, model, strength in rows:
        runs = [records[(model, s)] for s in seeds]
        per_seed = [row_metrics(r, strength) for r in runs]
        cells = {}
        for iou in IOU_TYPES:
            for column in COLUMNS:
                key = metric_key(iou, column)
                values = [100 * m[key] for m in per_seed]
                if any(v < 0 for v in values):
                    # LVIS reports -1: no class of the group in val
                    mean, std = float('nan'), float('nan')
                else:
                    mean, std = mean_std(values)
                cells[f'{iou}_{column}'] = dict(
                    mean=mean, std=std, seeds=values)
        out[row] = dict(
            model=model,
            strength=strength,
            cells=cells,
            picked=[r['selected']
                    for r in runs] if strength == SELECTED else None)
    return out


def compare(table: dict, reference: str = REFERENCE_ROW) -> dict:
    """Every row against ``reference``, per column: the difference of the
    means and whether it exceeds twice the spread (the larger of the two
    rows' standard deviations; a difference with an unknown spread is never
    called real).

    Rows of the same trained model as ``reference`` (the causal model at
    another alpha) differ only at test time, seed by seed, so they also get
    ``paired``: the per-seed differences, their mean and standard
    deviation, and ``real`` when the mean exceeds twice that deviation.
    """
    ref_entry = table[reference]
    ref = ref_entry['cells']
    out = {}
    for row, entry in table.items():
        if row == reference:
            continue
        out[row] = {}
        same_model = entry.get('model') == ref_entry.get('model')
        for col, cell in entry['cells'].items():
            diff = ref[col]['mean'] - cell['mean']
            spread = max(ref[col]['std'], cell['std'])
            known = not (math.isnan(spread) or math.isnan(diff))
            out[row][col] = dict(
                diff=diff,
                spread=spread,
                real=known and abs(diff) > 2 * spread)
            if same_model and 'seeds' in cell:
                diffs = [
                    a - b for a, b in zip(ref[col]['seeds'], cell['seeds'])
                ]
                mean, std = mean_std(diffs) if diffs else (float('nan'),
                                                           float('nan'))
                out[row][col]['paired'] = dict(
                    diffs=diffs,
                    mean=mean,
                    std=std,
                    real=not math.isnan(std) and abs(mean) > 2 * std)
    return out


def per_class_ap(records: Dict[Tuple[str, int], dict],
                 rows: Sequence[Tuple[str, str, str]], seeds: Sequence[int],
                 names: Sequence[str], iou: str) -> Dict[str, List[float]]:
    """Per row, each class's val AP (fraction) averaged over the seeds that
    have ground truth for it (NaN where none has)."""
    out = {}
    for row, model, strength in rows:
        per_seed = [row_metrics(records[(model, s)], strength) for s in seeds]
        values = []
        for name in names:
            aps = [m.get(f'lvis/{iou}_{name}_precision') for m in per_seed]
            aps = [a for a in aps if a is not None and not math.isnan(a)]
            values.append(sum(aps) / len(aps) if aps else float('nan'))
        out[row] = values
    return out


def fmt_cell(cell: dict) -> str:
    if math.isnan(cell['mean']):
        return 'n/a'
    if math.isnan(cell['std']):
        return f'{cell["mean"]:.1f}'
    return f'{cell["mean"]:.1f} ± {cell["std"]:.1f}'


def markdown_table(table: dict) -> str:
    cols = [f'{iou}_{c}' for iou in IOU_TYPES for c in COLUMNS]
    head = '| row | ' + ' | '.join(c.replace('_', ' ') for c in cols) + ' |'
    lines = [head, '|' + '---|' * (len(cols) + 1)]
    for row, entry in table.items():
        cells = ' | '.join(fmt_cell(entry['cells'][c]) for c in cols)
        lines.append(f'| {row} | {cells} |')
    return '\n'.join(lines)


def markdown_comparison(comparison: dict,
                        reference: str = REFERENCE_ROW) -> str:
    cols = [f'{iou}_{c}' for iou in IOU_TYPES for c in COLUMNS]
    head = (f'| {reference} minus | ' +
            ' | '.join(c.replace('_', ' ') for c in cols) + ' |')
    lines = [head, '|' + '---|' * (len(cols) + 1)]
    paired, paired_known = [], False
    for row, entry in comparison.items():
        cells, paired_cells = [], []
        for c in cols:
            d = entry[c]
            text = 'n/a' if math.isnan(d['diff']) else f'{d["diff"]:+.1f}'
            cells.append(f'**{text}**' if d['real'] else text)
            if 'paired' in d:
                p = d['paired']
                paired_known |= not math.isnan(p['std'])
                text = ('n/a' if math.isnan(p['std']) else
                        f'{p["mean"]:+.1f} ± {p["std"]:.1f}')
                paired_cells.append(f'**{text}**' if p['real'] else text)
        lines.append(f'| {row} | ' + ' | '.join(cells) + ' |')
        if paired_cells:
            paired.append(f'| {row} | ' + ' | '.join(paired_cells) + ' |')
    # with one seed a pair has no spread and its difference is the one
    # above: the table would say nothing new
    if paired_known:
        lines += [
            '', f'| {reference} minus, same model, paired by seed | ' +
            ' | '.join(c.replace('_', ' ')
                       for c in cols) + ' |', '|' + '---|' * (len(cols) + 1)
        ] + paired
    return '\n'.join(lines)


def markdown_report(table: dict, comparison: Optional[dict]) -> str:
    """``results_study.md``: the table, then the comparison if any."""
    md = [markdown_table(table)]
    if comparison:
        md += ['', markdown_comparison(comparison)]
    return '\n'.join(md) + '\n'


def curve_points(record: dict) -> List[dict]:
    """A curve model's seed-0 points, the final checkpoint included (read
    from its val metrics at the curve strength)."""
    points = list(record.get('curve') or [])
    final = row_metrics(record, CURVE_STRENGTH[record['model']])
    points.append(dict(iter=record['inputs']['iters'], metrics=final))
    return sorted(points, key=lambda p: p['iter'])


def strip_metrics(metrics: dict, keep_per_class: bool = True) -> dict:
    """Only the LVIS metrics (per class too, unless told not to)."""
    out = {}
    for key, value in metrics.items():
        if not key.startswith('lvis/'):
            continue
        if key.endswith('_precision') and not keep_per_class:
            continue
        out[key] = value
    return out
