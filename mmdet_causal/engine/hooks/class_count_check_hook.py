# Copyright (c) mmdet-causal contributors. All rights reserved.
from typing import List, Tuple

from mmcv.cnn import VGG
from mmdet.models.roi_heads.mask_heads import FusedSemanticHead
from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmdet_causal.datasets.dataset_checks import check_annotations


@HOOKS.register_module()
class ClassCountCheckHook(Hook):
    """Fail before the first iteration when a head's ``num_classes`` differs
    from the dataset's class count, or the dataset has no annotation of its
    classes; warn once about annotations of unknown classes, which mmdet
    drops (:func:`~mmdet_causal.datasets.dataset_checks.check_annotations`).

    A box head built for fewer classes than the data has does not fail by
    itself: class ``num_classes`` is read as background, the moving average
    of a causal head silently drops the classes beyond it, and only a class
    index past the logits finally raises, deep in the loss. mmdet's
    ``NumClassCheckHook`` asserts the same equality; this hook names every
    disagreeing head and the fix. ``tools/train.py`` and ``tools/test.py``
    add it when the config does not.
    """

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self._checked = set()  # splits whose annotations were checked

    def before_train(self, runner) -> None:
        self._check(runner, runner.train_dataloader.dataset, 'train')

    def before_val(self, runner) -> None:
        self._check(runner, runner.val_dataloader.dataset, 'val',
                    getattr(runner, 'val_evaluator', None))

    def before_test(self, runner) -> None:
        self._check(runner, runner.test_dataloader.dataset, 'test',
                    getattr(runner, 'test_evaluator', None))

    @staticmethod
    def mismatches(model, num_classes: int) -> List[Tuple[str, int]]:
        """``(module name, num_classes)`` of every head that disagrees."""
        if is_model_wrapper(model):
            model = model.module
        # class-agnostic proposal heads (any head under rpn_head: RPN,
        # GA-RPN, Cascade RPN stages) and HTC's stuff-class semantic head
        # have class counts of their own
        return [(name, module.num_classes)
                for name, module in model.named_modules()
                if isinstance(getattr(module, 'num_classes', None), int)
                and name.split('.')[0] != 'rpn_head'
                and not isinstance(module, (VGG, FusedSemanticHead))
                and module.num_classes != num_classes]

    def _check(self, runner, dataset, split: str, evaluator=None) -> None:
        # the ground truth matters unless every COCO/LVIS-style metric only
        # saves detections (format_only); a dumper (--out) compares nothing
        metrics = getattr(evaluator, 'metrics', None)
        evaluates = metrics is None or any(
            getattr(m, 'format_only', None) is False for m in metrics)
        if split not in self._checked:  # once, not at every validation
            check_annotations(dataset, split, format_only=not evaluates)
            self._checked.add(split)
        classes = dataset.metainfo.get('classes')
        if classes is None:
            return
        wrong = self.mismatches(runner.model, len(classes))
        if wrong:
            heads = ', '.join(f'{name} ({n})' for name, n in wrong)
            raise ValueError(
                f'the {split} dataset ({type(dataset).__name__}) has '
                f'{len(classes)} classes, but these heads of the model were '
                f'built for another number: {heads}. Set num_classes='
                f'{len(classes)} in every box and mask head of the model '
                'config (model.roi_head.bbox_head, model.roi_head.mask_head), '
                "or give the dataset metainfo=dict(classes=...) with the "
                'classes the model was built for.')
