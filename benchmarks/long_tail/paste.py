# Copyright (c) mmdet-causal contributors. All rights reserved.
"""Put the rendered tables into the pages that show them.

A page shows a table this folder's tools render (``FILE``, a path from the
repository's root) between two marker lines, which Markdown does not
display::

    <!-- FILE -->
    ...FILE's text...
    <!-- end FILE -->

This replaces what lies between them by ``FILE``'s text as it is now, so
that a page never shows a table the records no longer give (the drift
tests compare the pages with the tables verbatim)::

    python benchmarks/long_tail/paste.py docs/long_tail_study.md README.md
    python benchmarks/long_tail/paste.py --check docs/long_tail_study.md

``--check`` changes nothing and exits 1 naming the blocks that differ.
``campaign.sh tables`` ends with it, on the study page and the README.
"""
import argparse
import os.path as osp
import re
import sys
from typing import List, Tuple

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
START = re.compile(r'^<!-- (\S+\.md) -->$')


def paste(text: str, root: str = ROOT) -> Tuple[str, List[str]]:
    """``text`` with every marked block holding its file's text now, and
    the files whose blocks changed.

    Raises:
        ValueError: For a block without its end marker, or a marker naming
            a file that does not exist.
    """
    lines = text.split('\n')
    out, changed, i = [], [], 0
    while i < len(lines):
        out.append(lines[i])
        start = START.match(lines[i])
        i += 1
        if start is None:
            continue
        name = start.group(1)
        end = f'<!-- end {name} -->'
        try:
            j = lines.index(end, i)
        except ValueError:
            raise ValueError(f'"{lines[i - 1]}" has no "{end}" below it; '
                             'close the block with that line') from None
        path = osp.join(root, name)
        if not osp.isfile(path):
            raise ValueError(f'the block "{lines[i - 1]}" names {path}, '
                             'which does not exist: render it first (bash '
                             'benchmarks/long_tail/campaign.sh tables)')
        with open(path) as f:
            block = ['', *f.read().strip('\n').split('\n'), '']
        if lines[i:j] != block:
            changed.append(name)
        out += block + [end]
        i = j + 1
    return '\n'.join(out), changed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('pages', nargs='+', help='Markdown files to update')
    parser.add_argument(
        '--check',
        action='store_true',
        help='change nothing; exit 1 if a block differs from its file')
    args = parser.parse_args(argv)
    stale = []
    for page in args.pages:
        with open(page) as f:
            text, changed = paste(f.read())
        stale += [f'{page}: {name}' for name in changed]
        if changed and not args.check:
            with open(page, 'w') as f:
                f.write(text)
    for line in stale:
        print(('stale ' if args.check else 'pasted ') + line)
    return 1 if args.check and stale else 0


if __name__ == '__main__':
    sys.exit(main())
