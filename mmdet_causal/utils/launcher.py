# Copyright (c) mmdet-causal contributors. All rights reserved.
import os

#: what mmengine's pytorch launcher reads (torch's env:// rendezvous)
TORCHRUN_ENV = ('RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'MASTER_ADDR',
                'MASTER_PORT')


def check_launcher_env(launcher: str, tool: str) -> None:
    """``--launcher pytorch`` needs the environment torchrun sets; without
    it mmengine ends in ``KeyError: 'RANK'``. Say how to start the tool.

    Raises:
        SystemExit: Naming the missing variables and the two ways to start
            ``tool`` (``'train'`` or ``'test'``).
    """
    missing = [k for k in TORCHRUN_ENV if k not in os.environ]
    if launcher != 'pytorch' or not missing:
        return
    extra = ' CHECKPOINT' if tool == 'test' else ''
    raise SystemExit(
        f'--launcher pytorch needs the environment torchrun sets '
        f'({", ".join(missing)} missing): start it with tools/dist_{tool}.sh '
        f'CONFIG{extra} GPUS, or torchrun --nproc_per_node=GPUS '
        f'tools/{tool}.py CONFIG{extra} --launcher pytorch; for one process '
        'drop --launcher')
