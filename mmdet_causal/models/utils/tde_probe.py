# Copyright (c) mmdet-causal contributors. All rights reserved.
"""What tools read from the causal box heads at test time, read from
outside: a forward hook on each head's classifier sees the classification
feature and the plain logits of every eval forward, from which the head's
own :meth:`~CausalConvFCBBoxHead.tde_terms` gives ``cos`` and the
counterfactual. The heads keep no statistics and no side channel."""
import functools
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn


class TDEProbe:
    """Cos statistics (for the rule-of-thumb alpha) and, optionally, the TDE
    terms of every eval forward of some causal box heads that apply TDE,
    while attached.

    Use as a context manager (``with TDEProbe(heads) as probe:``) or with
    :meth:`attach` / :meth:`detach`.

    Args:
        heads (Sequence[nn.Module]): Causal box heads, in stage order
            (:func:`mmdet_causal.utils.causal_bbox_heads`).
        record_terms (bool): Keep ``(y, y0_unit)`` of every eval forward,
            in the order the heads ran (the one-pass sweep reads them).
            Defaults to False.
    """

    def __init__(self,
                 heads: Sequence[nn.Module],
                 record_terms: bool = False) -> None:
        self.heads = list(heads)
        self.record_terms = record_terms
        self.terms: List[Tuple[Tensor, Tensor]] = []
        self._handles = []
        self.reset()

    def attach(self) -> 'TDEProbe':
        for i, head in enumerate(self.heads):
            self._handles.append(
                head.fc_cls.register_forward_hook(
                    functools.partial(self._on_logits, i)))
        return self

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    __enter__ = attach

    def __exit__(self, *exc) -> None:
        self.detach()

    def reset(self) -> None:
        """Forget the statistics and terms seen so far."""
        self._cos_sum = [torch.zeros(h.num_heads) for h in self.heads]
        self._cos_count = [0] * len(self.heads)
        self.terms = []

    @torch.no_grad()
    def _on_logits(self, index: int, module, args, y: Tensor) -> None:
        head = self.heads[index]
        if head.training or not head.use_tde:
            return  # only test forwards that apply TDE
        y, cos, y0_unit = head.tde_terms(args[0], y)
        cos = cos.detach().float()
        self._cos_sum[index] = self._cos_sum[index].to(cos.device) + cos.sum(0)
        self._cos_count[index] += cos.shape[0]
        if self.record_terms:
            self.terms.append((y, y0_unit))

    def cos_stats(self, sync: bool = False) -> List[Dict[str, object]]:
        """Mean ``cos`` per head over the RoIs seen since the last reset.

        Args:
            sync (bool): Over the RoIs of all ranks (a collective: every
                rank must call it). Defaults to False: this rank's.

        Returns:
            list[dict]: One per head: ``per_head`` (K floats), ``mean``
            (over heads and RoIs), ``num_rois`` and ``rule_of_thumb_alpha``
            (``1 / mean``, the authors' advice ``mean(alpha * cos) ~ 1``),
            all None when the head saw no RoI.
        """
        return [
            _cos_summary(total, count, sync)
            for total, count in zip(self._cos_sum, self._cos_count)
        ]


def _cos_summary(total: Tensor, count: int, sync: bool) -> Dict[str, object]:
    if sync:
        from mmengine.dist import all_reduce
        totals = torch.cat(
            [total.double().cpu(),
             torch.tensor([count], dtype=torch.float64)])
        all_reduce(totals, op='sum')
        total, count = totals[:-1], int(totals[-1].item())
    if count == 0:
        return dict(
            per_head=None, mean=None, num_rois=0, rule_of_thumb_alpha=None)
    per_head = (total.double() / count).tolist()
    mean = sum(per_head) / len(per_head)
    return dict(
        per_head=per_head,
        mean=mean,
        num_rois=count,
        rule_of_thumb_alpha=1.0 / mean if mean > 0 else None)


def rule_of_thumb_alpha(cos_stats: List[Dict[str, object]]) -> Optional[float]:
    """The authors' advice, mean of ``alpha * cos`` about 1, from the
    :meth:`TDEProbe.cos_stats` of a model's causal stages: ``1 / mean cos``
    over the stages that saw RoIs; None when none did or the mean is not
    positive."""
    means = [s['mean'] for s in cos_stats if s['mean'] is not None]
    if not means or sum(means) <= 0:
        return None
    return len(means) / sum(means)
