# Copyright (c) mmdet-causal contributors. All rights reserved.
"""Run a tool as ``tools/dist_test.sh`` would, on CPU-only machines.

A test and benchmark harness, not part of the product: mmengine's pytorch
launcher calls ``torch.cuda.set_device(LOCAL_RANK)`` and wraps the model in
DDP with ``device_ids=[LOCAL_RANK]``, neither of which a process without
CUDA can do. Each rank here neutralises both, in its own process, then runs
the tool with ``--launcher pytorch`` and the gloo backend, so everything else
(process group, sampler sharding, result gathering) is mmengine's.
"""
import os
import os.path as osp
import runpy
import socket
import sys
from typing import Optional, Sequence


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _rank(rank: int, nprocs: int, port: int, tool: str, argv: Sequence[str],
          threads: Optional[int]) -> None:
    import torch
    from mmengine.model.wrappers import MMDistributedDataParallel

    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(nprocs),
        MASTER_ADDR='127.0.0.1',
        MASTER_PORT=str(port))
    torch.cuda.set_device = lambda device: None
    ddp_init = MMDistributedDataParallel.__init__

    def cpu_ddp_init(self, module, detect_anomalous_params=False, **kwargs):
        kwargs.pop('device_ids', None)
        ddp_init(self, module, detect_anomalous_params, **kwargs)

    MMDistributedDataParallel.__init__ = cpu_ddp_init
    if threads:
        torch.set_num_threads(threads)
    sys.argv = [tool] + list(argv) + ['--launcher', 'pytorch']
    runpy.run_path(tool, run_name='__main__')
    # the tool leaves its process group open: a rank that exits while
    # gloo's threads still serve the other one can abort ("terminate
    # called without an active exception"); leave together, then close it
    import torch.distributed as dist
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def run_on_cpu_ranks(tool: str,
                     argv: Sequence[str],
                     nprocs: int = 2,
                     threads: Optional[int] = None) -> None:
    """Run ``tool`` (a path such as ``tools/test.py``) with ``argv`` on
    ``nprocs`` CPU processes, as ``tools/dist_test.sh`` does on GPUs.

    ``argv`` must select the gloo backend, e.g. ``--cfg-options
    env_cfg.dist_cfg.backend=gloo``. ``threads``: torch threads per rank
    (default: torch's). Raises if a rank fails.
    """
    import torch.multiprocessing as mp
    mp.spawn(
        _rank,
        args=(nprocs, _free_port(), osp.abspath(tool), list(argv), threads),
        nprocs=nprocs,
        join=True)
