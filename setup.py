#!/usr/bin/env python
# Copyright (c) mmdet-causal contributors. All rights reserved.
"""Packaging of mmdet-causal, following mmdet/mmyolo's setup.py."""
import os
import os.path as osp
import re
import shutil
import sys
import warnings
from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def readme() -> str:
    with open(osp.join(HERE, 'README.md'), encoding='utf-8') as f:
        return f.read()


def get_version() -> str:
    with open(osp.join(HERE, 'mmdet_causal', 'version.py')) as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


def parse_requirements(fname: str) -> list:
    """Read a requirements file, skipping comments and blank lines."""
    reqs = []
    with open(osp.join(HERE, fname)) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line and not line.startswith('-'):
                reqs.append(line)
    return reqs


def add_mim_extension() -> None:
    """Ship the configs inside the package, as mmdet and mmyolo do, so that
    ``_base_ = 'mmdet_causal::htc/...'`` resolves after ``pip install``
    (mmengine looks in ``<package>/.mim/configs``).

    A wheel or sdist gets copies; an editable install a symlink to the
    repository's folders, so edits are seen at once.
    """
    if {'develop', 'editable_wheel'} & set(sys.argv):
        mode = 'symlink'
    elif {'sdist', 'bdist_wheel', 'build', 'install'} & set(sys.argv):
        mode = 'copy'
    else:
        return
    mim_path = osp.join(HERE, 'mmdet_causal', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for name in ('configs', 'tools', 'model-index.yml'):
        src, dst = osp.join(HERE, name), osp.join(mim_path, name)
        if not osp.exists(src):
            # building from an sdist whose .mim copy is all there is
            if not osp.exists(dst):
                warnings.warn(f'{name} is missing: the package will not '
                              'ship it in mmdet_causal/.mim')
            continue
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_path), dst)
        elif osp.isdir(src):
            shutil.copytree(
                src, dst, ignore=shutil.ignore_patterns('__pycache__'))
        else:
            shutil.copyfile(src, dst)


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='mmdet-causal',
        version=get_version(),
        description='De-confounded training and TDE inference '
        '(Tang et al., NeurIPS 2020) for MMDetection 3.x on LVIS',
        long_description=readme(),
        long_description_content_type='text/markdown',
        keywords='computer vision, object detection, long-tailed, LVIS',
        packages=find_packages(
            exclude=('configs', 'tools', 'tests', 'benchmarks', 'docker')),
        include_package_data=True,
        package_data={
            'mmdet_causal': [
                '.mim/model-index.yml', '.mim/configs/**/*.py',
                '.mim/tools/*.py', '.mim/tools/*.sh', '.mim/tools/**/*.py',
                '.mim/tools/**/*.awk'
            ]
        },
        python_requires='>=3.8',
        license='Apache License 2.0',
        classifiers=[
            'Development Status :: 4 - Beta',
            'License :: OSI Approved :: Apache Software License',
            'Operating System :: OS Independent',
            'Programming Language :: Python :: 3',
            'Topic :: Scientific/Engineering :: Artificial Intelligence',
        ],
        # mmcv/mmdet/mmengine come from one of two lines with the same
        # import names, so neither is a plain requirement (pip would install
        # upstream mmcv over the fork's): `pip install mmdet-causal[onedl]`
        # or `[upstream]`, or the user's own stack; the import checks it
        install_requires=parse_requirements('requirements/runtime.txt'),
        extras_require={
            'upstream': parse_requirements('requirements/mminstall.txt'),
            'onedl': parse_requirements('requirements/mminstall-onedl.txt'),
            'tests': parse_requirements('requirements/tests.txt'),
        },
        zip_safe=False)
