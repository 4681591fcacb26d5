# Copyright (c) mmdet-causal contributors. All rights reserved.
"""What a recorded timing or result ran on."""
import platform
from typing import Optional


def cpu_name() -> Optional[str]:
    """The processor's model name (``/proc/cpuinfo`` on Linux), else what
    ``platform.processor()`` says, else None."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None
