# Copyright (c) mmdet-causal contributors. All rights reserved.
"""Write ``roi_head_reference.pth``: what the causal box heads computed under
the label-passing Causal*RoIHeads (commit 4323036, before the box head
updated its moving average in ``loss_and_target``), for the bit-equality
tests of tests/test_models/test_roi_heads/test_causal_roi_heads.py.

Per config: three SGD steps of the tiny RoI head on fixed inputs (losses,
every stage's ``causal_embed`` after each step), then one ``predict``.

    python tests/data/make_roi_head_reference.py
"""
import os.path as osp
import sys

import torch

HERE = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, osp.join(HERE, '..', 'test_models', 'test_roi_heads'))
sys.path.insert(0, osp.join(HERE, '..'))
# isort: off
from test_causal_roi_heads import REFERENCE_CONFIGS, reference_run  # noqa: E402,E501
# isort: on


def main():
    out = dict(torch=str(torch.__version__), runs={})
    for name, (config, _) in REFERENCE_CONFIGS.items():
        out['runs'][name] = reference_run(config)
    torch.save(out, osp.join(HERE, 'roi_head_reference.pth'))


if __name__ == '__main__':
    main()
