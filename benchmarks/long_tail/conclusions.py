# Copyright (c) mmdet-causal contributors. All rights reserved.
"""The study's conclusions, claim by claim, on several studies side by side
(two data sets at one budget, or one set at two budgets): the difference
each claim names, its spread, and on which studies it holds.

    python benchmarks/long_tail/conclusions.py benchmarks/long_tail \\
        benchmarks/long_tail/study_longtail2 --labels longtail longtail2 \\
        --md benchmarks/long_tail/study_conclusions_sets.md

    python benchmarks/long_tail/conclusions.py benchmarks/long_tail \\
        benchmarks/long_tail/study_6400 \\
        --md benchmarks/long_tail/study_conclusions_schedule.md

A claim "a beats b" is read from the run records over the seeds both
operands have, as ``schedule.py`` ranks: the difference of the means, and
against it the spread (for two strengths of one trained model the standard
deviation of the per-seed differences, paired by seed; otherwise the
larger of the two standard deviations). It *holds* on a study when its
bbox AP difference is beyond twice that spread, is *reversed* when the
difference is that far the other way, and is not told apart otherwise
(always so with fewer than two shared seeds).
"""
import argparse
import math
import os.path as osp
import sys
import textwrap
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

HERE = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, HERE)

import convergence  # noqa: E402
import schedule  # noqa: E402
import study  # noqa: E402

#: what a claim's verdict is read from, and the columns shown
VERDICT = 'bbox_AP'
SHOWN = schedule.SHOWN

#: (model, strength): a strength named as in ``study.ROWS`` (any swept one:
#: the records hold every strength of the sweep)
Operand = Tuple[str, str]


class Claim(NamedTuple):
    """``a`` beats ``b``, in the words ``text``."""
    text: str
    a: Operand
    b: Operand


TDE = ('causal', study.SELECTED)
CAUSAL_0 = ('causal', 'alpha=0')
CAUSAL_RFS = ('causal_rfs', study.SELECTED)
CAUSAL_RFS_0 = ('causal_rfs', 'alpha=0')
STOCK = ('stock', 'gamma=0')
SEESAW = ('seesaw', study.PLAIN)
SEESAW_RFS = ('seesaw_rfs', study.PLAIN)
STOCK_RFS = ('stock_rfs', study.PLAIN)

#: the conclusions the study page draws, in its order ("TDE" is the
#: causal model at its held-out alpha)
CLAIMS: Tuple[Claim, ...] = (
    Claim('TDE beats stock', TDE, STOCK),
    Claim('TDE beats stock + NorCal', TDE, ('stock', study.SELECTED)),
    Claim('TDE beats stock + RFS', TDE, STOCK_RFS),
    Claim('the causal model at alpha 0 beats stock', CAUSAL_0, STOCK),
    Claim('the held-out alpha adds to the causal model', TDE, CAUSAL_0),
    Claim('alpha 1.5 adds to the causal model', ('causal', 'alpha=1.5'),
          CAUSAL_0),
    Claim('the held-out alpha beats alpha 1.5 on the causal model', TDE,
          ('causal', 'alpha=1.5')),
    Claim('Seesaw beats the causal model at alpha 0', SEESAW, CAUSAL_0),
    Claim('Seesaw beats TDE', SEESAW, TDE),
    Claim('causal + RFS at alpha 0 beats TDE', CAUSAL_RFS_0, TDE),
    Claim('the held-out alpha adds to causal + RFS', CAUSAL_RFS, CAUSAL_RFS_0),
    Claim('alpha 1.5 adds to causal + RFS', ('causal_rfs', 'alpha=1.5'),
          CAUSAL_RFS_0),
    Claim('Seesaw + RFS beats causal + RFS', SEESAW_RFS, CAUSAL_RFS),
    Claim('RFS adds to Seesaw', SEESAW_RFS, SEESAW),
    Claim('RFS adds to the causal model at alpha 0', CAUSAL_RFS_0, CAUSAL_0),
    Claim('RFS adds to stock', STOCK_RFS, STOCK),
    Claim('NorCal adds to stock', ('stock', study.SELECTED), STOCK),
    Claim('stock + RFS beats stock + NorCal', STOCK_RFS,
          ('stock', study.SELECTED)),
)


def per_seed(records: Dict[Tuple[str, int], dict], operand: Operand,
             column: str) -> Dict[int, float]:
    """``{seed: val AP in %}`` of ``operand`` in ``column``; NaN where LVIS
    reports -1 (no class of the group in val)."""
    model, strength = operand
    key = study.metric_key(*column.split('_'))
    out = {}
    for (m, seed), record in records.items():
        if m == model:
            value = 100 * study.row_metrics(record, strength)[key]
            out[seed] = value if value >= 0 else float('nan')
    return out


def judge(records: Dict[Tuple[str, int], dict], claim: Claim) -> dict:
    """Per shown column: ``mean`` (a minus b), ``spread``, ``seeds`` (how
    many both operands have) and ``verdict`` (+1 holds, -1 reversed, 0 not
    told apart)."""
    out = {}
    for column in SHOWN:
        va, vb = (per_seed(records, op, column) for op in (claim.a, claim.b))
        shared = sorted(set(va) & set(vb))
        if not shared:
            out[column] = dict(
                mean=float('nan'), spread=float('nan'), seeds=0, verdict=0)
            continue
        mean, spread = study.difference([va[s] for s in shared],
                                        [vb[s] for s in shared],
                                        claim.a[0] == claim.b[0])
        beyond = not math.isnan(spread) and abs(mean) > 2 * spread
        out[column] = dict(
            mean=mean,
            spread=spread,
            seeds=len(shared),
            verdict=int(math.copysign(1, mean)) if beyond else 0)
    return out


def summarise(study_dirs: Sequence[str],
              labels: Optional[Sequence[str]] = None) -> Dict[str, dict]:
    """``{study name: {claim text: judge(...)}}``, named by ``labels`` (in
    their order) or by their budgets (shortest first)."""
    return {
        convergence.schedule_name(key): {
            claim.text: judge(records, claim)
            for claim in CLAIMS
            if {claim.a[0], claim.b[0]} <= {m
                                            for m, _ in records}
        }
        for key, (
            _, _,
            records) in schedule.load_studies(study_dirs, labels).items()
    }


def holds_on(summary: Dict[str, dict], claim: str) -> str:
    """Where the claim holds (and where it is reversed), by its bbox AP."""
    verdicts = {
        name: claims[claim][VERDICT]['verdict']
        for name, claims in summary.items() if claim in claims
    }
    held = [name for name, v in verdicts.items() if v > 0]
    reversed_ = [name for name, v in verdicts.items() if v < 0]
    text = ', '.join(held) if held else 'none'
    if reversed_:
        text += '; reversed on ' + ', '.join(reversed_)
    return text


def fmt(cell: dict, most_seeds: int) -> str:
    if not cell['seeds']:
        return 'no seed in common'
    if math.isnan(cell['mean']):
        return '-'
    text = f'{cell["mean"]:+.1f}'
    if not math.isnan(cell['spread']):
        text += f' ± {cell["spread"]:.1f}'
    if cell['verdict']:
        text = f'**{text}**'
    if cell['seeds'] < max(most_seeds, 2):
        text += f' ({cell["seeds"]} seed{"s" * (cell["seeds"] != 1)})'
    return text


def markdown(summary: Dict[str, dict], columns: Sequence[str] = SHOWN) -> str:
    """One line per claim, ``columns`` of each study, and where the claim
    holds."""
    head = ' | '.join(f'{name}: {c.replace("_", " ")}' for name in summary
                      for c in columns)
    lines = [
        f'| claim | {head} | holds on ({VERDICT.replace("_", " ")}) |',
        '|---|' + '---|' * (len(summary) * len(columns) + 1)
    ]
    most = {
        name:
        max((cell['seeds'] for judged in claims.values()
             for cell in judged.values()),
            default=0)
        for name, claims in summary.items()
    }
    for claim in CLAIMS:
        if not any(claim.text in claims for claims in summary.values()):
            continue
        cells: List[str] = []
        for name, claims in summary.items():
            judged = claims.get(claim.text)
            cells += [
                'not run yet' if judged is None else fmt(
                    judged[c], most[name]) for c in columns
            ]
        lines.append(f'| {claim.text} | ' + ' | '.join(cells) +
                     f' | {holds_on(summary, claim.text)} |')
    lines += [''] + textwrap.wrap(
        'Differences a minus b in AP points, mean over the seeds both have '
        '± the spread they are judged against (paired by seed for two '
        'strengths of one trained model, the larger standard deviation '
        'otherwise); bold beyond twice the spread. "TDE" is the causal '
        'model at its held-out alpha.', 76)
    return '\n'.join(lines) + '\n'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('study_dirs', nargs='+', help='run.py --out folders')
    parser.add_argument('--md', help='write the table here')
    parser.add_argument(
        '--columns',
        nargs='+',
        default=SHOWN,
        choices=SHOWN,
        help='the columns shown per study (default: all)')
    parser.add_argument(
        '--labels',
        nargs='+',
        help='one name per folder (two data sets at one budget); default: '
        'each folder by its budget')
    args = parser.parse_args(argv)
    text = markdown(summarise(args.study_dirs, args.labels), args.columns)
    if args.md:
        with open(args.md, 'w') as f:
            f.write(text)
    print(text)


if __name__ == '__main__':
    main()
