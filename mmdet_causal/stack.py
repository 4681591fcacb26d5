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

#: The two lines of the OpenMMLab 3.x stack this plugin is tested on, by
#: version range (the import names are the same; a version tells them
#: apart, no distribution name is asked): upstream OpenMMLab (tested with
#: mmcv 2.1.0, mmdet 3.3.0, mmengine 0.10.7) and its maintained fork,
#: published as onedl-mmcv / onedl-mmdetection / onedl-mmengine (tested
#: with 2.3.6, 3.5.1, 0.10.12). The ranges are those of
#: requirements/mminstall.txt and requirements/mminstall-onedl.txt (a test
#: keeps them in step). mmdet's upper bounds are tight: the heads and the
#: sweep reach into its RoI-head internals (tests/test_mmdet_internals.py).
SUPPORTED_VERSIONS = dict(
    upstream=dict(
        mmcv=('2.0.0rc4', '2.2.0'),
        mmdet=('3.3.0', '3.4.0'),
        mmengine=('0.10.0', '1.0.0')),
    onedl=dict(
        mmcv=('2.3.0', '2.4.0'),
        mmdet=('3.5.0', '3.6.0'),
        mmengine=('0.10.8', '1.0.0')))
#: Where each line's packages come from.
DISTRIBUTIONS = dict(
    upstream=dict(mmcv='mmcv', mmdet='mmdet', mmengine='mmengine'),
    onedl=dict(
        mmcv='onedl-mmcv',
        mmdet='onedl-mmdetection',
        mmengine='onedl-mmengine'))


def check_version(module) -> set:
    """The lines whose range holds ``module``'s version; ImportError,
    naming the ranges of both lines, when there is none."""
    name, version = module.__name__, digit_version(module.__version__)
    ranges = {
        line: limits[name]
        for line, limits in SUPPORTED_VERSIONS.items()
    }
    lines = {
        line
        for line, (low, high) in ranges.items()
        if digit_version(low) <= version < digit_version(high)
    }
    if not lines:
        choices = '; or '.join(
            f'pip install "{DISTRIBUTIONS[line][name]}>={low},<{high}" '
            f'({line})' for line, (low, high) in ranges.items())
        raise ImportError(
            f'mmdet_causal {__version__} does not support {name}=='
            f'{module.__version__}, which is installed. Install a supported '
            'version, from one line only (both install the same modules): '
            f'{choices}.')
    return lines


def check_stack(*modules) -> None:
    """Each module in a supported range, and all of them of one line."""
    common = set(SUPPORTED_VERSIONS)
    for module in modules:
        common &= check_version(module)
    if not common:
        found = ', '.join(f'{m.__name__}=={m.__version__}' for m in modules)
        raise ImportError(
            f'mmdet_causal {__version__}: {found} mix the upstream OpenMMLab '
            'packages with those of the onedl fork; install mmcv, mmdet and '
            'mmengine of one line (requirements/mminstall.txt or '
            'requirements/mminstall-onedl.txt), in a fresh environment.')


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


check_stack(mmcv, mmengine)
import mmdet  # noqa: E402

check_stack(mmcv, mmengine, mmdet)
register_config_scope()
