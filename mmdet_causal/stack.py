# Copyright (c) mmdet-causal contributors. All rights reserved.
"""The OpenMMLab stack this plugin runs on, checked when it is imported.

Imported first by ``mmdet_causal/__init__.py``: mmcv and mmengine are
checked before mmdet is imported, since importing mmdet asserts its own
ranges of them with a message that does not name ours.
"""
import mmcv
import mmengine
from mmengine.utils import digit_version

from .version import __version__

# The ranges of requirements/mminstall.txt (a test keeps them in step);
# tested with mmcv 2.1.0, mmdet 3.3.0, mmengine 0.10.7. mmdet's upper bound
# is tight: the Causal RoI heads and the alpha sweep reach into mmdet 3.3's
# RoI-head internals.
SUPPORTED_VERSIONS = dict(
    mmcv=('2.0.0rc4', '2.2.0'),
    mmdet=('3.3.0', '3.4.0'),
    mmengine=('0.10.0', '1.0.0'))


def check_version(module) -> None:
    """Raise ImportError, naming the supported range, unless ``module``'s
    version is in it."""
    name = module.__name__
    minimum, maximum = SUPPORTED_VERSIONS[name]
    if not (digit_version(minimum) <= digit_version(module.__version__) <
            digit_version(maximum)):
        raise ImportError(
            f'mmdet_causal {__version__} supports {name}>={minimum}, '
            f'<{maximum}, but {name}=={module.__version__} is installed. '
            f'Install a supported version: pip install "{name}>={minimum},'
            f'<{maximum}" (or mim install "{name}>={minimum},<{maximum}").')


def register_config_scope() -> None:
    """Let configs name our bases as ``'mmdet_causal::htc/...'``.

    mmengine 0.10.7 reads such bases only for the packages of its
    ``MODULE2PACKAGE`` table (module name -> pip name), from
    ``<package>/.mim/configs``, where setup.py puts our configs. A config
    that does so must be read after ``import mmdet_causal`` (this project's
    tools import it first; ``custom_imports`` act too late for a config's
    own ``_base_``).
    """
    from mmengine.config.utils import MODULE2PACKAGE
    MODULE2PACKAGE.setdefault('mmdet_causal', 'mmdet-causal')


check_version(mmcv)
check_version(mmengine)
import mmdet  # noqa: E402

check_version(mmdet)
register_config_scope()
