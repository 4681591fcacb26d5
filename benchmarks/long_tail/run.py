# Copyright (c) mmdet-causal contributors. All rights reserved.
"""The long-tail study: which of stock, RFS, Seesaw, NorCal and TDE to use
on long-tailed data, and by how much, with seeds and spreads.

Every model trains the same number of iterations, once per seed; the causal
models are then tested at every TDE alpha and the stock model at every
NorCal gamma in one pass each, the strength picked on the held-out split
(never on val) and all reported on val. Seed 0 of the stock and causal
models also tests intermediate checkpoints (the convergence curve).

    python benchmarks/long_tail/run.py            # the committed study
    python benchmarks/long_tail/run.py --quick    # smoke check, < 5 min

Finished (model, seed) runs are cached as JSON records (``<out>/runs``):
rerunning the command resumes where an interrupted study stopped, and a
changed input (data, config, budget, grid) reruns what it changes. Writes
``results_study.json``, ``results_study.md`` and the figures
(``study_*.png``) to ``--out``.
"""
import argparse
import contextlib
import glob
import json
import os
import os.path as osp
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, replace
from typing import Optional

HERE = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, HERE)
# isort: off
import study  # noqa: E402
from study import (  # noqa: E402
    ALPHAS, CURVE_MODELS, CURVE_STRENGTH, GAMMAS, MODELS, PLAIN, QUICK_ALPHAS,
    QUICK_GAMMAS, ROOT, SELECT_METRIC, RunCache, StudyData)
# isort: on

#: the full study's budget per model and seed, and its checkpoints
ITERS = 1600
CHECKPOINT_EVERY = 200
#: the convergence curve tests every other checkpoint
CURVE_EVERY = 400
#: the generator's long-tailed presets, and where each is written
DATA_PRESETS = {'longtail': 'long_tail', 'longtail2': 'long_tail2'}


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n', 1)[1])
    parser.add_argument(
        '--models',
        nargs='+',
        choices=sorted(MODELS),
        default=list(MODELS),
        help='models to train (the rows of the others are left out)')
    parser.add_argument(
        '--seeds', nargs='+', type=int, default=[0, 1, 2], help='seeds')
    parser.add_argument(
        '--iters',
        type=int,
        help=f'training iterations per model and seed (default {ITERS}, '
        'quick 20)')
    parser.add_argument(
        '--checkpoint-every',
        type=int,
        help='iterations between the checkpoints of the convergence curve '
        f'(default {CHECKPOINT_EVERY}, quick 10)')
    parser.add_argument(
        '--curve-every',
        type=int,
        help='iterations between the curve points tested (a multiple of '
        f'--checkpoint-every; default {CURVE_EVERY}, quick 10)')
    parser.add_argument(
        '--curve-models',
        nargs='+',
        choices=sorted(MODELS) + ['all'],
        default=list(CURVE_MODELS),
        help='models whose first seed also tests intermediate checkpoints '
        f'(default {" ".join(CURVE_MODELS)}; all: every model)')
    parser.add_argument(
        '--data-root',
        help='an LVIS-format long-tailed set (default: the generator\'s '
        '--preset, written to data/long_tail or data/long_tail2)')
    parser.add_argument(
        '--preset',
        choices=sorted(DATA_PRESETS),
        default='longtail',
        help='the generated set to study when --data-root is not given: '
        'longtail (the study\'s set) or longtail2 (the second set: '
        'flatter tail, more and smaller objects, more classes per shape)')
    parser.add_argument(
        '--ann-files',
        nargs=3,
        metavar=('TRAIN', 'HELDOUT', 'VAL'),
        default=('annotations/lvis_v1_train.json',
                 'annotations/lvis_v1_heldout.json',
                 'annotations/lvis_v1_val.json'),
        help='the splits, relative to --data-root')
    parser.add_argument(
        '--quick',
        action='store_true',
        help='smoke check: a small set, one seed, 20 iterations, '
        'three strengths per sweep')
    parser.add_argument('--work-dir', default='work_dirs/long_tail_study')
    parser.add_argument(
        '--out',
        help='where results, figures and the run cache go (default: next '
        'to this file; quick: <work-dir>/quick)')
    args = parser.parse_args()
    if args.quick:
        args.seeds = args.seeds if '--seeds' in sys.argv else [0]
        args.iters = args.iters or 20
        args.checkpoint_every = args.checkpoint_every or 10
        args.curve_every = args.curve_every or 10
    if 'all' in args.curve_models:
        args.curve_models = list(MODELS)
    args.alphas = QUICK_ALPHAS if args.quick else ALPHAS
    args.gammas = QUICK_GAMMAS if args.quick else GAMMAS
    args.iters = args.iters or ITERS
    args.checkpoint_every = args.checkpoint_every or CHECKPOINT_EVERY
    args.curve_every = args.curve_every or CURVE_EVERY
    if args.iters < 1 or not 1 <= args.checkpoint_every <= args.iters:
        parser.error('need 1 <= --checkpoint-every <= --iters')
    if args.curve_every % args.checkpoint_every:
        parser.error('--curve-every must be a multiple of --checkpoint-every')
    return args


def log(msg):
    print(f'[study {time.strftime("%H:%M:%S")}] {msg}', flush=True)


def run(cmd, log_file):
    """Run a tool; its output goes to ``log_file``, and on failure the tail
    of it to the terminal."""
    with open(log_file, 'a') as f:
        f.write('$ ' + ' '.join(cmd) + '\n')
        f.flush()
        proc = subprocess.run(
            cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode:
        with open(log_file) as f:
            tail = f.readlines()[-40:]
        sys.stderr.write(''.join(tail))
        raise SystemExit(f'failed ({proc.returncode}): {" ".join(cmd)}; '
                         f'log: {log_file}')


def study_data(args) -> StudyData:
    if args.data_root is None:
        from mmdet_causal.testing import PRESETS, generate_tiny_lvis
        spec, name = PRESETS[args.preset], DATA_PRESETS[args.preset]
        if args.quick:
            spec = replace(spec, train_images=60, val_images_per_class=1)
            name += '_quick'
        args.data_root = osp.join(ROOT, 'data', name)
        generate_tiny_lvis(args.data_root, spec)
    root = osp.abspath(args.data_root)
    data = StudyData(root, *(osp.join(root, a) for a in args.ann_files))
    data.check()
    return data


def test_args(model: str, args):
    """The tools/test.py arguments that test ``model`` (its sweep)."""
    sweep = MODELS[model].sweep
    if sweep == 'tde':
        return ['--tde-alphas'] + [f'{a:g}' for a in args.alphas]
    if sweep == 'norcal':
        return ['--norcal-gammas'] + [f'{g:g}' for g in args.gammas]
    return []


def strength_args(strength: str):
    """tools/test.py arguments that test at one sweep strength."""
    if strength in (PLAIN, 'gamma=0'):
        return []  # NorCal at gamma 0 is the model itself
    knob, value = strength.split('=')
    return {
        'alpha': ['--tde-alpha', value],
        'gamma': ['--norcal-gamma', value]
    }[knob]


def train_and_test(model, seed, cfg, data, args, work_dir, inputs=None):
    """One (model, seed) run: train (resuming an interrupted training),
    test (sweep + held-out pick, or plain), and for a curve model's seed 0
    test intermediate checkpoints. Returns the record.

    What a run has finished in ``work_dir`` (the trained checkpoint, the
    test's output, curve points, with the seconds each took in
    ``times.json``) is reused when the study restarts with the same
    ``inputs``; a work dir made with other inputs is cleared first."""
    run_dir = RunDir(model, seed, work_dir, inputs)
    # not in work_dir itself: mmengine's runners dump the config they run
    # there (training with resume=True, a test with its loop and load_from)
    cfg.dump(run_dir.config)
    final = osp.join(work_dir, f'iter_{args.iters}.pth')
    if not osp.isfile(final):
        run_dir.tool('train', f'training {args.iters} iterations', [
            'tools/train.py', run_dir.config, '--work-dir', work_dir,
            '--resume'
        ])
    record = tested_record(run_dir, model, final, data, args)
    record['val'] = {
        k: study.strip_metrics(v)
        for k, v in record['val'].items()
    }
    if record['heldout']:
        record['heldout'] = {
            k: study.strip_metrics(v, keep_per_class=False)
            for k, v in record['heldout'].items()
        }
    curve = []
    if is_curve_run(model, seed, args):
        curve = [curve_point(run_dir, model, it) for it in curve_iters(args)]
    times = run_dir.times
    record.update(
        curve=curve,
        train_s=times.get('train'),
        test_s=sum(v for k, v in times.items() if k != 'train'))
    # from the logs where they tell: the process's own time misses the
    # earlier processes of a resumed training
    record.update(train_seconds(work_dir, args.iters))
    return record


class RunDir:
    """A run's work dir: cleared when it holds a run of other ``inputs``,
    its config, its log, the seconds of its steps, and its tools."""

    def __init__(self, model, seed, work_dir, inputs=None):
        self.name, self.work_dir = f'{model} seed {seed}', work_dir
        stamp = osp.join(work_dir, 'inputs.json')
        if inputs is not None and osp.isfile(stamp):
            with open(stamp) as f:
                old = json.load(f)
            if old != inputs:
                log(f'{self.name}: {work_dir} holds another run; cleared')
                shutil.rmtree(work_dir)
        os.makedirs(work_dir, exist_ok=True)
        if inputs is not None:
            with open(stamp, 'w') as f:
                json.dump(inputs, f)
        self.times = Times(osp.join(work_dir, 'times.json'))
        self.config = osp.join(work_dir, 'study', 'config.py')
        os.makedirs(osp.dirname(self.config), exist_ok=True)
        self.log_file = osp.join(work_dir, 'study.log')

    def tool(self, step: str, what: str, cmd: list) -> None:
        """Run a tool of the project as one timed step."""
        log(f'{self.name}: {what}')
        with self.times(step):
            run([sys.executable] + cmd, self.log_file)

    def test(self, checkpoint: str, out_name: str, extra: list) -> list:
        """The tools/test.py command of ``checkpoint``, its outputs in
        ``out_name`` under the work dir."""
        return [
            'tools/test.py', self.config, checkpoint, '--work-dir',
            osp.join(self.work_dir, out_name)
        ] + extra


def tested_record(run_dir: RunDir, model: str, final: str, data, args) -> dict:
    """The record of the trained model's test: its sweep (picked on the
    held-out split) or its plain test."""
    work_dir = run_dir.work_dir
    if MODELS[model].sweep:
        sweep_dir = osp.join(work_dir, 'sweep')
        out = osp.join(sweep_dir, 'sweep.json')
        if not osp.isfile(out):
            run_dir.tool(
                'test', 'testing (sweep)',
                run_dir.test(final, 'test', [
                    '--select-on', data.heldout, '--select-metric',
                    SELECT_METRIC, '--sweep-out', sweep_dir
                ] + test_args(model, args)))
        with open(out) as f:
            report = json.load(f)
        if 'test' not in run_dir.times:  # stopped before keeping the time
            run_dir.times.set('test', report['total_s'])
        return study.record_from_sweep(report)
    out = osp.join(work_dir, 'metrics.json')
    if not osp.isfile(out):
        run_dir.tool('test', 'testing',
                     run_dir.test(final, 'test', ['--metrics-out', out]))
    with open(out) as f:
        return study.record_from_plain(json.load(f)['metrics'])


def curve_point(run_dir: RunDir, model: str, it: int) -> dict:
    """The metrics of the checkpoint at ``it`` iterations, at the model's
    curve strength."""
    out = osp.join(run_dir.work_dir, f'metrics_iter_{it}.json')
    if not osp.isfile(out):
        checkpoint = osp.join(run_dir.work_dir, f'iter_{it}.pth')
        run_dir.tool(
            f'curve_{it}', f'curve point at {it} iterations',
            run_dir.test(checkpoint, f'test_iter_{it}',
                         ['--metrics-out', out] +
                         strength_args(CURVE_STRENGTH[model])))
    with open(out) as f:
        metrics = json.load(f)['metrics']
    return dict(
        iter=it, metrics=study.strip_metrics(metrics, keep_per_class=False))


class Times:
    """Seconds each step of a run took, kept in a JSON file so that a
    restarted study still counts steps an earlier process finished."""

    def __init__(self, path):
        self.path = path
        self.data = {}
        if osp.isfile(path):
            with open(path) as f:
                self.data = json.load(f)

    def __contains__(self, key):
        return key in self.data

    def get(self, key):
        return self.data.get(key)

    def items(self):
        return self.data.items()

    def set(self, key, seconds):
        self.data[key] = seconds
        with open(self.path, 'w') as f:
            json.dump(self.data, f, indent=1)

    @contextlib.contextmanager
    def __call__(self, key):
        start = time.perf_counter()
        yield
        self.set(key, time.perf_counter() - start)


def logged_iteration_seconds(work_dir) -> Optional[float]:
    """The median of mmengine's logged iteration times (each the mean over
    the window before a log line) over every process of the training in
    ``work_dir``, an iteration logged twice (after a resume from an earlier
    checkpoint) once, as the last process logged it; None without training
    logs. The machine's typical speed over the run: a median, so that a
    pause (a process stopped with ``kill -STOP``; the gaps between the
    processes of a resumed training are not logged at all) does not count,
    nor do stretches on shared cores while they are under half of the
    logged windows; checkpoint saves and start-up are not iterations."""
    times = {}
    for path in sorted(
            glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        # a training's rows hold its loss; a test's, none
        times.update((r['iter'], r['time']) for r in rows
                     if 'loss' in r and 'time' in r)
    return statistics.median(times.values()) if times else None


def train_seconds(work_dir, iters) -> dict:
    """``train_s`` (``iters`` times the median iteration time: what the
    training takes at the run's typical speed, not its elapsed time, which
    is longer where it shared the cores) and ``iter_s`` (that median) of the
    training in ``work_dir``, from its logs; empty without them."""
    iter_s = logged_iteration_seconds(work_dir)
    return {} if iter_s is None else dict(
        train_s=iters * iter_s, iter_s=iter_s)


def prune_checkpoints(work_dir, keep):
    for path in glob.glob(osp.join(work_dir, 'iter_*.pth')):
        if osp.basename(path) != keep:
            os.remove(path)


def machine():
    import numpy
    import torch

    from mmdet_causal.utils.machine import cpu_name
    return dict(
        cpu=cpu_name(),
        cores=os.cpu_count(),
        torch=torch.__version__,
        numpy=numpy.__version__,
        threads=torch.get_num_threads(),
        python=platform.python_version())


def curve_iters(args):
    """The intermediate checkpoints a curve model's first seed tests."""
    return list(range(args.curve_every, args.iters, args.curve_every))


def is_curve_run(model, seed, args):
    """Whether this (model, seed) run tests intermediate checkpoints."""
    return model in args.curve_models and seed == min(args.seeds)


def cached_curve(record, seed, args, path):
    """The record with the curve points this invocation asks for.

    ``--curve-every`` and ``--curve-models`` are not part of a run's inputs
    (the trained model does not depend on them), and the checkpoints
    between are gone after a run: a record made at a finer spacing serves a
    coarser one (its points are a superset), any other cannot be served
    from the cache: say so."""
    if not is_curve_run(record['model'], seed, args):
        return dict(record, curve=[])
    points = {p['iter']: p for p in record.get('curve') or []}
    asked = curve_iters(args)
    missing = [it for it in asked if it not in points]
    if missing and not points:
        raise SystemExit(
            f'{path} holds no curve points, this run asks for {asked}: '
            'delete the record to train that run again with its curve, or '
            'leave its model out of --curve-models')
    if missing:
        got = sorted(points)
        every = got[0]
        raise SystemExit(
            f'{path} holds curve points at {got} iterations, this run asks '
            f'for {asked}: rerun with --curve-every {every}, or delete the '
            'record to train that run again')
    return dict(record, curve=[points[it] for it in asked])


def main():
    args = parse_args()
    wall_start = time.perf_counter()
    data = study_data(args)
    out_dir = args.out or (osp.join(ROOT, args.work_dir, 'quick')
                           if args.quick else HERE)
    cache = RunCache(osp.join(out_dir, 'runs'))
    data_fp = data.fingerprint()
    records, ran = {}, []
    # seed-major: a study stopped early has every model at some seeds
    for seed in args.seeds:
        for model in args.models:
            work_dir = osp.join(ROOT, args.work_dir,
                                'quick' if args.quick else 'full', model,
                                f'seed{seed}')
            cfg = study.study_config(model, data, args.iters, seed,
                                     args.checkpoint_every)
            fingerprints = study.config_fingerprints(cfg)
            inputs = study.run_inputs(model, data_fp, fingerprints[0],
                                      args.iters, args.alphas, args.gammas)
            record = cache.get(model, seed, inputs, fingerprints[1:])
            if record is None:
                record = train_and_test(model, seed, cfg, data, args, work_dir,
                                        inputs)
                record = cache.put(model, seed, inputs, record)
                prune_checkpoints(work_dir, f'iter_{args.iters}.pth')
                ran.append(study.run_key(model, seed))
                log(f'{model} seed {seed}: done (train '
                    f'{record["train_s"] / 60:.1f} min, test '
                    f'{record["test_s"] / 60:.1f} min)')
            else:
                record = cached_curve(record, seed, args,
                                      cache.path(model, seed))
                log(f'{model} seed {seed}: cached ({cache.path(model, seed)})')
            records[(model, seed)] = record
    write_results(args, data, records, out_dir, ran,
                  time.perf_counter() - wall_start)


def write_results(args, data, records, out_dir, ran, wall_s):
    import plots

    from mmdet_causal.visualization import plot_per_class_ap
    rows = study.rows_for(args.models)
    table = study.aggregate(records, rows, args.seeds)
    has_ref = study.REFERENCE_ROW in table
    comparison = study.compare(table) if has_ref else None
    cats = data.categories()
    names = [c['name'] for c in cats]
    groups = {g: sum(c['frequency'] == g for c in cats) for g in 'rcf'}
    compute_s = sum(r['train_s'] + r['test_s'] for r in records.values())
    summary = dict(
        command='python benchmarks/long_tail/run.py ' + ' '.join(sys.argv[1:]),
        machine=machine(),
        wall_s_this_invocation=wall_s,
        compute_s_all_runs=compute_s,
        runs_made_by_this_invocation=ran,
        models={m: asdict(MODELS[m])
                for m in args.models},
        seeds=args.seeds,
        iters=args.iters,
        checkpoint_every=args.checkpoint_every,
        curve_every=args.curve_every,
        alphas=list(args.alphas),
        gammas=list(args.gammas),
        select_metric=SELECT_METRIC,
        data=dict(
            data_root=osp.relpath(data.data_root, ROOT),
            classes=len(cats),
            groups=groups,
            train_images=data.num_train_images(),
            rfs_oversample_thr=study.RFS_BOUNDARY_IMAGES /
            data.num_train_images()),
        table=table,
        comparison=comparison,
        runs={
            study.run_key(m, s):
            dict(
                train_s=r['train_s'],
                test_s=r['test_s'],
                selected=r['selected'])
            for (m, s), r in records.items()
        })
    os.makedirs(out_dir, exist_ok=True)
    with open(osp.join(out_dir, 'results_study.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    md = study.markdown_report(table, comparison)
    with open(osp.join(out_dir, 'results_study.md'), 'w') as f:
        f.write(md)
    title = (f'synthetic long-tailed LVIS ({len(cats)} classes, r/c/f '
             f'{groups["r"]}/{groups["c"]}/{groups["f"]}), '
             f'{args.iters} iterations, seeds {args.seeds}')
    plots.table_figure(table, osp.join(out_dir, 'study_table.png'), title)
    curves = {
        m: study.curve_points(records[(m, min(args.seeds))])
        for m in args.curve_models if m in args.models
    }
    if curves:
        plots.curve_figure(curves, osp.join(out_dir, 'study_curve.png'),
                           args.iters)
    with open(data.train) as f:
        train_cats = {c['name']: c for c in json.load(f)['categories']}
    per_class = study.per_class_ap(records, rows, args.seeds, names, 'bbox')
    fig = plot_per_class_ap(
        {
            row: dict(zip(names, aps))
            for row, aps in per_class.items()
        }, {n: train_cats[n]['instance_count']
            for n in names}, {n: train_cats[n]['frequency']
                              for n in names},
        osp.join(out_dir, 'study_per_class.png'),
        title=f'bbox AP per class, mean of seeds {args.seeds}')
    import matplotlib.pyplot as plt
    plt.close(fig)
    print(md, end='')
    log(f'written to {out_dir}; this invocation {wall_s / 60:.1f} min, all '
        f'runs {compute_s / 60:.1f} min of compute')


if __name__ == '__main__':
    main()
