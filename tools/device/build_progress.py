# Copyright (c) mmdet-causal contributors. All rights reserved.
"""One line per compiled unit of a ninja build read from ``pip install -v``
output on stdin: ``[n/total] unit.o (Ns elapsed, ~Ns left)``; errors pass
through. (tools/misc/mmcv_build_progress.awk does this here, but needs
gawk's systime; the GPU machine may have another awk.)"""
import re
import sys
import time

UNIT = re.compile(r'^\s*\[(\d+)/(\d+)\]\s')
ERROR = re.compile(r'error|Error|ERROR')


def main(stream=sys.stdin, out=sys.stdout, start=None):
    start = time.time() if start is None else start
    for line in stream:
        m = UNIT.match(line)
        if m:
            done, total = int(m.group(1)), int(m.group(2))
            words = line.split()
            target = words[words.index('-o') + 1] if '-o' in words[:-1] \
                else '?'
            elapsed = time.time() - start
            left = elapsed * (total - done) / max(done, 1)
            out.write(f'[build] [{done}/{total}] {target.split("/")[-1]} '
                      f'({elapsed:.0f}s elapsed, ~{left:.0f}s left)\n')
            out.flush()
        elif ERROR.search(line) and 'Werror' not in line:
            out.write('[build] ' + line)
            out.flush()


if __name__ == '__main__':
    main()
