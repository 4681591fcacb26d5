# Copyright (c) mmdet-causal contributors. All rights reserved.
"""Box heads of de-confounded training and TDE inference.

Tang, Huang and Zhang, "Long-Tailed Classification by Keeping the Good and
Removing the Bad Momentum Causal Effect", NeurIPS 2020. The maths, with the
fixes to the public code, is specified in the project's ``method.md``.
"""
import contextlib
import logging
import math
from typing import Dict, Optional, Tuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from mmdet.models.roi_heads.bbox_heads import (ConvFCBBoxHead,
                                               Shared2FCBBoxHead,
                                               Shared4Conv1FCBBoxHead)
from mmdet.registry import MODELS
from mmengine.logging import print_log
from torch import Tensor

from mmdet_causal.models.layers import (MultiHeadNormedLinear,
                                        at_least_float32, float32_math)

LABEL_PASSING_ROI_HEADS = ('CausalCascadeRoIHead, '
                           'CausalHybridTaskCascadeRoIHead or '
                           'CausalStandardRoIHead')

UNTRAINED_EMBED_WARNING = (
    'causal_embed is missing from the checkpoint or all zeros (a stock, '
    'non-causal checkpoint?), so TDE changes nothing. Load a checkpoint '
    'trained with a causal box head under a Causal*RoIHead, or set '
    'use_tde=False.')
_warned = set()


def warn_untrained_embed() -> None:
    """Warn once per process, however many heads and images see it."""
    if UNTRAINED_EMBED_WARNING not in _warned:
        _warned.add(UNTRAINED_EMBED_WARNING)
        print_log(
            UNTRAINED_EMBED_WARNING, logger='current', level=logging.WARNING)


def check_alpha(alpha) -> float:
    """``alpha`` as a float.

    Raises:
        ValueError: Unless ``alpha`` is finite and ``>= 0`` (an infinite
            alpha turns every score into NaN).
    """
    value = float(alpha)
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError(
            f'alpha must be a finite, non-negative number, got {alpha}; use '
            'alpha=0 (or use_tde=False) for the plain de-confounded model')
    return value


@MODELS.register_module()
class CausalConvFCBBoxHead(ConvFCBBoxHead):
    r"""ConvFC box head with a de-confounded classifier and TDE inference.

    Training: the classification logits are those of a normalised multi-head
    cosine classifier (:class:`MultiHeadNormedLinear`), and the buffer
    ``causal_embed`` keeps a moving average of the foreground RoI features,
    the confounder's direction. Test: the counterfactual logits of that
    direction, scaled by how much each RoI points along it, are subtracted
    from the foreground classes (Total Direct Effect), while the
    foreground/background split of the plain model is kept
    (background-exempted inference).

    ``forward`` returns ``cls_score`` whose ``softmax`` is the final
    probability, so mmdet's ``softmax`` in ``_predict_by_feat_single`` and its
    averaging of stages in a cascade stay correct: in eval mode with TDE it is
    ``log P`` (no double softmax).

    Args:
        num_heads (int): Number of heads ``K`` the classification feature is
            split into; must divide its width ``D`` (``fc_out_channels``
            for the Shared*FC heads). Defaults to 2.
        scale (float): Logit scale ``tau``, applied as ``tau / K``.
            Defaults to 16.0.
        gamma (float): Offset in the classifier-weight norm, ``> 0``.
            Defaults to 1/32.
        momentum (float): Decay ``mu`` of the moving average, in ``[0, 1)``.
            Defaults to 0.9998.
        alpha (float): Strength of the counterfactual at test time, finite
            and ``>= 0``.
            Defaults to 1.5.
        use_tde (bool): Apply TDE at test time. If False the test logits are
            the plain cosine logits. Defaults to True.
        background_exempt (bool): Keep the background probability of the
            plain model and let TDE re-rank the foreground classes only.
            Defaults to True.
        sync_embed (bool): All-reduce the foreground feature sum and count
            across ranks before updating ``causal_embed``, so that all ranks
            hold the same average. Defaults to True.
        eps (float): Guard in every feature norm. Defaults to 1e-9.
        **kwargs: Everything else as in :class:`ConvFCBBoxHead`.
    """

    # Read by the Causal*RoIHeads: this head's forward takes ``labels``.
    accepts_labels = True

    def __init__(self,
                 *args,
                 num_heads: int = 2,
                 scale: float = 16.0,
                 gamma: float = 1.0 / 32,
                 momentum: float = 0.9998,
                 alpha: float = 1.5,
                 use_tde: bool = True,
                 background_exempt: bool = True,
                 sync_embed: bool = True,
                 eps: float = 1e-9,
                 **kwargs) -> None:
        if 'cls_predictor_cfg' in kwargs:
            raise ValueError(
                f'{type(self).__name__} builds its own cosine classifier; '
                'remove cls_predictor_cfg and set num_heads, scale, gamma '
                'or eps instead')
        if not 0.0 <= momentum < 1.0:
            raise ValueError(
                f'momentum must be in [0, 1), got {momentum} (the published '
                'default is 0.9998)')
        super().__init__(*args, **kwargs)
        if not self.with_cls:
            raise ValueError(f'{type(self).__name__} needs with_cls=True')
        if self.custom_cls_channels or getattr(self.loss_cls, 'use_sigmoid',
                                               False):
            raise ValueError(
                f'{type(self).__name__} needs a softmax classification loss '
                'over num_classes + 1 channels (e.g. CrossEntropyLoss with '
                f'use_sigmoid=False), got {type(self.loss_cls).__name__}')
        # mmdet's BBoxHead builds fc_cls at the flattened RoI width
        # (in_channels * roi_feat_area) and ConvFCBBoxHead rebuilds it at
        # the real width cls_last_dim. The parents build their default
        # Linear; the cosine classifier is built here, once, at the width
        # it classifies, so only that width D constrains num_heads.
        self.cls_predictor_cfg = dict(
            type='MultiHeadNormedLinear',
            num_heads=num_heads,
            scale=scale,
            gamma=gamma,
            eps=eps)
        self.fc_cls = MultiHeadNormedLinear(
            in_features=self.cls_last_dim,
            out_features=self.num_classes + 1,
            num_heads=num_heads,
            scale=scale,
            gamma=gamma,
            eps=eps)
        if kwargs.get('init_cfg') is None:
            # fc_cls keeps its own uniform initialisation (method.md); the
            # parent's Normal(std=0.01) override is meant for a Linear layer.
            self.init_cfg = [
                cfg for cfg in self.init_cfg
                if cfg.get('override') != dict(name='fc_cls')
            ]
        self.num_heads = num_heads
        self.momentum = momentum
        self.alpha = alpha
        self.use_tde = use_tde
        self.background_exempt = background_exempt
        self.sync_embed = sync_embed
        self.eps = eps
        self.register_buffer('causal_embed', torch.zeros(self.cls_last_dim))
        # Per-forward statistics of cos(x_k, e_k) in eval mode, read by tools
        # (rule-of-thumb alpha); plain attributes, not part of checkpoints.
        self.last_mean_cos: Optional[Tensor] = None
        self.reset_cos_stats()
        self._embed_checked = False
        # a list to which eval forwards append (y, y0_unit), set by
        # mmdet_causal.apis.AlphaSweeper; None otherwise
        self.tde_recorder: Optional[list] = None
        # labels handed over by a Causal*RoIHead (labels_for_next_forward),
        # and whether it allows label-free training forwards
        self._pending_labels: Optional[Tensor] = None
        self._label_free_depth = 0
        # calls of update_embed (each one all-reduce when synchronised)
        self.num_embed_updates = 0

    @property
    def alpha(self) -> float:
        """Strength of the counterfactual; settable without retraining."""
        return self._alpha

    @alpha.setter
    def alpha(self, value: float) -> None:
        self._alpha = check_alpha(value)

    # ------------------------------------------------------------------
    # forward
    # ------------------------------------------------------------------
    @contextlib.contextmanager
    def _capture_cls_feature(self):
        """Keep what :class:`ConvFCBBoxHead`'s forward hands to ``fc_cls``:
        the classification feature ``x``, which the moving average and TDE
        need besides the logits. mmdet's forward runs as mmdet wrote it (read
        from mmdet 3.3.0, where it calls ``self.fc_cls(x_cls)`` once; pinned
        by tests/test_mmdet_internals.py)."""
        captured = []
        handle = self.fc_cls.register_forward_pre_hook(
            lambda module, args: captured.append(args[0]))
        try:
            yield captured
        finally:
            handle.remove()

    def forward(self,
                x: Tensor,
                labels: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Forward RoI features.

        Args:
            x (Tensor): RoI features, shape ``(N, C_in, H, W)``.
            labels (Tensor, optional): Per-RoI labels, shape ``(N,)``, with
                background ``= num_classes`` (``bbox_targets[0]``). In
                training they select the foreground RoIs of the moving
                average; a Causal*RoIHead hands them over through
                :meth:`labels_for_next_forward` instead. Ignored in eval
                mode.

        Returns:
            tuple[Tensor, Tensor]: ``cls_score`` of shape
            ``(N, num_classes + 1)`` and ``bbox_pred``. In training
            ``cls_score`` are the cosine logits ``y``; in eval mode their
            ``softmax`` is the (background-exempted) TDE probability.
            ``cls_score`` has the dtype of the head's parameters: float32
            under autocast, half after ``model.half()``.
        """
        with self._capture_cls_feature() as captured:
            y, bbox_pred = super().forward(x)
        x_cls = captured[0]
        if self.training:
            labels = self._labels_for_update(labels)
            if labels is not None:
                self.update_embed(x_cls, labels)
            return y.to(self.fc_cls.weight.dtype), bbox_pred
        return self.predict_cls_score(x_cls, y), bbox_pred

    def cls_feature(self, x: Tensor) -> Tensor:
        """The classification feature ``x`` (``(N, D)``) of RoI features:
        what the classifier, the moving average and TDE see."""
        with self._capture_cls_feature() as captured:
            super().forward(x)
        return captured[0]

    # ------------------------------------------------------------------
    # labels from the RoI head
    # ------------------------------------------------------------------
    def _labels_for_update(self, labels: Optional[Tensor]) -> Optional[Tensor]:
        """The labels of a training forward, or None for a forward that
        must not update the average."""
        if labels is not None:
            return labels
        if self._pending_labels is not None:
            labels, self._pending_labels = self._pending_labels, None
            return labels
        if self._label_free_depth > 0:
            # a forward a Causal*RoIHead makes before the targets exist:
            # hard-example mining in OHEM/ScoreHLR samplers, or
            # forward(mode='tensor'). Nothing to average.
            return None
        raise ValueError(
            f'{type(self).__name__} needs per-RoI labels during training; '
            f'use {LABEL_PASSING_ROI_HEADS}')

    @contextlib.contextmanager
    def label_free_forwards(self):
        """Inside, training forwards without labels are legitimate: they
        return the cosine logits and leave the moving average alone. A
        Causal*RoIHead opens this around its ``loss`` and ``forward``."""
        self._label_free_depth += 1
        try:
            yield
        finally:
            self._label_free_depth -= 1

    @contextlib.contextmanager
    def labels_for_next_forward(self, labels: Tensor):
        """The next training forward takes ``labels`` (``bbox_targets[0]``).

        A Causal*RoIHead opens this around mmdet's own ``bbox_loss``, whose
        single box-head forward then updates the average.

        Raises:
            RuntimeError: If no forward took the labels: mmdet's
                ``bbox_loss`` no longer runs the box head (this plugin was
                written against mmdet 3.3).
        """
        if self._pending_labels is not None:
            raise RuntimeError(
                f'{type(self).__name__}: labels are already pending')
        self._pending_labels = labels
        try:
            yield
            if self._pending_labels is not None:
                raise RuntimeError(
                    f'{type(self).__name__} was not run inside the RoI '
                    'head\'s bbox_loss, so its moving average missed an '
                    'update. mmdet_causal was written against mmdet 3.3; '
                    'check the installed mmdet version.')
        finally:
            self._pending_labels = None

    # ------------------------------------------------------------------
    # moving average
    # ------------------------------------------------------------------
    @torch.no_grad()
    def update_embed(self, x_cls: Tensor, labels: Tensor) -> None:
        """``e <- mu * e + mean of the foreground features``.

        Only ``0 <= label < num_classes`` counts (background is
        ``num_classes``). A batch without foreground, or with non-finite
        foreground features, leaves ``e`` unchanged. With ``sync_embed``
        the sum and count are all-reduced first, so every rank computes the
        same update; every rank must therefore call this once per training
        step and stage, with an empty batch if it has no RoI
        (:meth:`join_embed_update`). The update is branch-free, so it never
        synchronises with the device.

        Args:
            x_cls (Tensor): Classification features, shape ``(N, D)``.
            labels (Tensor): Per-RoI labels, shape ``(N,)``.
        """
        if labels.shape[0] != x_cls.shape[0]:
            raise ValueError(
                f'got {labels.shape[0]} labels for {x_cls.shape[0]} RoIs; '
                'pass bbox_targets[0] of the same sampling results')
        fg = (labels >= 0) & (labels < self.num_classes)
        x_fg = torch.where(fg.unsqueeze(1), x_cls.detach().float(), 0.0)
        stats = torch.cat([x_fg.sum(0), fg.sum().float().reshape(1)])
        if (self.sync_embed and dist.is_available() and dist.is_initialized()
                and dist.get_world_size() > 1):
            dist.all_reduce(stats)
        total, count = stats[:-1], stats[-1]
        mean = total / count.clamp(min=1.0)
        valid = (count > 0) & torch.isfinite(mean).all()
        embed = self.causal_embed
        new = embed.float() * self.momentum + mean
        embed.copy_(torch.where(valid, new, embed.float()))
        self.num_embed_updates += 1

    def join_embed_update(self) -> None:
        """Take part in an update with no RoI: the average changes only by
        what the other ranks contribute (nothing in a single process)."""
        empty = self.causal_embed.new_zeros((0, self.cls_last_dim))
        self.update_embed(empty, empty.new_zeros((0, ), dtype=torch.long))

    def _apply(self, fn, *args, **kwargs):
        # model.half() (or .to(bfloat16)) must not round the moving
        # average: it grows towards mean / (1 - mu), thousands of times the
        # mean, past fp16's range. It stays float32 (or wider).
        embed = self.causal_embed
        super()._apply(fn, *args, **kwargs)
        if self.causal_embed.dtype in (torch.float16, torch.bfloat16):
            self.causal_embed = embed.to(
                device=self.causal_embed.device, dtype=torch.float32)
        return self

    # ------------------------------------------------------------------
    # inference
    # ------------------------------------------------------------------
    def tde_terms(self,
                  x_cls: Tensor,
                  y: Optional[Tensor] = None) -> Tuple[Tensor, Tensor, Tensor]:
        """The pieces every alpha is made of, in float32 (float64 stays)
        whatever the input dtype: under autocast or ``model.half()``,
        ``eps = 1e-9`` would round to 0 and the normalised terms to fp16
        before the log-softmax.

        Args:
            x_cls (Tensor): Classification features, shape ``(N, D)``.
            y (Tensor, optional): ``fc_cls(x_cls)`` if already computed.

        Returns:
            tuple[Tensor, Tensor, Tensor]:

            - ``y``: plain cosine logits, ``(N, C+1)``.
            - ``cos``: ``x̂_k · ê_k`` per RoI and head, ``(N, K)``.
            - ``y0_unit``: the counterfactual logits for ``alpha = 1``,
              ``(tau / K) sum_k cos_k (ê_k · ŵ_{c,k})``, ``(N, C+1)``;
              ``y0 = alpha * y0_unit``. Rank ``K`` in (RoI, class), so it
              costs ``O(N K C)``, not another ``N x D x C`` product.
        """
        cls = self.fc_cls
        with float32_math(x_cls):
            x_hat = cls.split_normalize(at_least_float32(x_cls),
                                        self.eps)  # (N, K, d)
            w_hat = cls.normalized_weight()  # (C+1, K, d)
            e_hat = cls.split_normalize(
                self.causal_embed.to(x_hat.dtype), self.eps)  # (K, d)
            if y is None:
                y = cls.logits(x_hat, w_hat)
            cos = torch.einsum('nkd,kd->nk', x_hat, e_hat)
            e_w = torch.einsum('kd,ckd->kc', e_hat, w_hat)  # (K, C+1)
            y0_unit = (cls.scale / self.num_heads) * cos.matmul(e_w)
        return at_least_float32(y), cos, y0_unit

    def combine_scores(self, y: Tensor, y0_unit: Tensor,
                       alpha: float) -> Tensor:
        """Final ``cls_score`` for one alpha from :meth:`tde_terms`.

        Background-exempted: returns ``log P`` with
        ``P_bg = p_bg`` and ``P_c = (1 - p_bg) softmax(z[:C])_c``, where
        ``p = softmax(y)`` and ``z = y - alpha * y0_unit``. Otherwise returns
        ``z``. Either way ``softmax`` of the result is the probability.
        Computed in float32, returned in the dtype of the head's parameters.
        """
        with float32_math(y):
            z = y - alpha * y0_unit
            if self.background_exempt:
                log_norm = torch.logsumexp(y, dim=1, keepdim=True)
                log_p_bg = y[:, -1:] - log_norm
                # log(1 - p_bg) = logsumexp(y_fg) - logsumexp(y), computed
                # without cancellation when p_bg is close to 1.
                log_p_fg = torch.logsumexp(
                    y[:, :-1], dim=1, keepdim=True) - log_norm
                log_q_fg = F.log_softmax(z[:, :-1], dim=1)
                z = torch.cat([log_p_fg + log_q_fg, log_p_bg], dim=1)
        return z.to(self.fc_cls.weight.dtype)

    def predict_cls_score(self,
                          x_cls: Tensor,
                          y: Optional[Tensor] = None) -> Tensor:
        """Test-time ``cls_score`` (see :meth:`combine_scores`).

        Args:
            x_cls (Tensor): Classification features, shape ``(N, D)``.
            y (Tensor, optional): ``fc_cls(x_cls)`` if already computed.
        """
        if not self.use_tde:
            y = self.fc_cls(x_cls) if y is None else y
            return y.to(self.fc_cls.weight.dtype)
        self._check_embed()
        y, cos, y0_unit = self.tde_terms(x_cls, y)
        self._record_cos(cos)
        if self.tde_recorder is not None:  # one-pass alpha sweeps
            self.tde_recorder.append((y, y0_unit))
        return self.combine_scores(y, y0_unit, self.alpha)

    def _check_embed(self) -> None:
        # Once per head: a zero embedding makes TDE a silent no-op.
        if self._embed_checked:
            return
        self._embed_checked = True
        if self.alpha > 0 and not bool(self.causal_embed.any()):
            warn_untrained_embed()

    # ------------------------------------------------------------------
    # cos statistics for the rule-of-thumb alpha
    # ------------------------------------------------------------------
    def _record_cos(self, cos: Tensor) -> None:
        cos = cos.detach().float()
        self.last_mean_cos = cos.mean(0) if cos.shape[0] else None
        self._cos_sum = self._cos_sum.to(cos.device) + cos.sum(0)
        self._cos_count += cos.shape[0]

    def reset_cos_stats(self) -> None:
        """Forget the accumulated cos statistics."""
        self._cos_sum = torch.zeros(self.num_heads)
        self._cos_count = 0

    def cos_stats(self, sync: bool = False) -> Dict[str, object]:
        """Mean ``cos`` over all RoIs seen in eval mode since the last reset.

        Args:
            sync (bool): Over the RoIs of all ranks of a distributed run
                (a collective: every rank must call it; the head's own
                statistics are left as they are). Defaults to False: this
                rank's.

        Returns:
            dict: ``per_head`` (list of K floats), ``mean`` (float, over
            heads and RoIs), ``num_rois`` and ``rule_of_thumb_alpha``
            (``1 / mean``, the authors' advice: ``mean(alpha * cos) ~ 1``),
            all None when no RoI was seen.
        """
        total, count = self._cos_sum, self._cos_count
        if sync:
            from mmengine.dist import all_reduce
            totals = torch.cat([
                total.double().cpu(),
                torch.tensor([count], dtype=torch.float64)
            ])
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

    # ------------------------------------------------------------------
    # checkpoints
    # ------------------------------------------------------------------
    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                              missing_keys, unexpected_keys,
                              error_msgs) -> None:
        key = prefix + 'causal_embed'
        if key not in state_dict:
            # the moving average stays as it is (mmengine lists the missing
            # keys); one warning for all heads says what that means
            warn_untrained_embed()
        elif state_dict[key].shape != self.causal_embed.shape:
            error_msgs.append(
                f'size mismatch for {key}: checkpoint '
                f'{tuple(state_dict[key].shape)}, model '
                f'{tuple(self.causal_embed.shape)} (the classification '
                'feature width differs)')
            state_dict = {k: v for k, v in state_dict.items() if k != key}
            missing_keys.append(key)
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)


@MODELS.register_module()
class CausalShared2FCBBoxHead(CausalConvFCBBoxHead, Shared2FCBBoxHead):
    """mmdet's :class:`Shared2FCBBoxHead` (its shape, its trunk) with the
    classifier, moving average and TDE of :class:`CausalConvFCBBoxHead`."""


@MODELS.register_module()
class CausalShared4Conv1FCBBoxHead(CausalConvFCBBoxHead,
                                   Shared4Conv1FCBBoxHead):
    """mmdet's :class:`Shared4Conv1FCBBoxHead` (its shape, its trunk) with
    the classifier, moving average and TDE of :class:`CausalConvFCBBoxHead`.
    """
