# Copyright (c) mmdet-causal contributors. All rights reserved.
import os.path as osp
import sys

# tests/causal_reference.py is shared by several test modules
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
