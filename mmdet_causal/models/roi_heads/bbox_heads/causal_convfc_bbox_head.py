# Copyright (c) mmdet-causal contributors. All rights reserved.
"""Box heads of de-confounded training and TDE inference.

Tang, Huang and Zhang, "Long-Tailed Classification by Keeping the Good and
Removing the Bad Momentum Causal Effect", NeurIPS 2020. The maths, with the
fixes to the public code, is specified in the project's ``method.md``.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from mmdet.models.roi_heads.bbox_heads import (ConvFCBBoxHead,
                                               Shared2FCBBoxHead,
                                               Shared4Conv1FCBBoxHead)
from mmdet.registry import MODELS
from torch import Tensor

from mmdet_causal.models.layers import (MultiHeadNormedLinear,
                                        at_least_float32, float32_math)
from mmdet_causal.models.utils import embed_sync
from mmdet_causal.models.utils.checkpoint_checks import (check_loaded_state,
                                                         warn_untrained_embed)
from mmdet_causal.models.utils.strength import check_alpha


@MODELS.register_module()
class CausalConvFCBBoxHead(ConvFCBBoxHead):
    r"""ConvFC box head with a de-confounded classifier and TDE inference.

    Training: a normalised multi-head cosine classifier
    (:class:`MultiHeadNormedLinear`), and the buffer ``causal_embed``, a
    moving average of the foreground RoI features (the confounder's
    direction), collected in ``loss_and_target`` with mmdet's own labels and
    moved at the optimizer step: a type swap in any two-stage config. Test:
    the counterfactual logits of that direction are subtracted from the
    foreground classes (Total Direct Effect), keeping the plain model's
    background probability (background-exempted inference).

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
            and ``>= 0``. Defaults to 1.5.
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
        self._check_classification()
        # the parents build a Linear fc_cls (BBoxHead at the flattened RoI
        # width, ConvFCBBoxHead again at cls_last_dim); the cosine classifier
        # is built at the width it classifies, so only D constrains num_heads
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
        self._embed_checked = False
        # the classification feature of the last training forward, for the
        # loss_and_target of the same step; and the foreground statistics
        # collected since the last optimizer step (embed_sync)
        self._train_feature: Optional[Tensor] = None
        self._embed_stats: Optional[Tensor] = None
        embed_sync.track(self)

    def _check_classification(self) -> None:
        """The cosine classifier is a softmax over ``num_classes + 1``."""
        if not self.with_cls:
            raise ValueError(f'{type(self).__name__} needs with_cls=True')
        if self.custom_cls_channels or getattr(self.loss_cls, 'use_sigmoid',
                                               False):
            raise ValueError(
                f'{type(self).__name__} needs a softmax classification loss '
                'over num_classes + 1 channels (e.g. CrossEntropyLoss with '
                f'use_sigmoid=False), got {type(self.loss_cls).__name__}')

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        embed_sync.track(self)  # a deep copy trains like the original

    @property
    def alpha(self) -> float:
        """Strength of the counterfactual; settable without retraining."""
        return self._alpha

    @alpha.setter
    def alpha(self, value: float) -> None:
        self._alpha = check_alpha(value)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """RoI features ``(N, C_in, H, W)`` -> ``cls_score`` ``(N, C + 1)``
        and ``bbox_pred``. In training ``cls_score`` are the cosine logits
        ``y``; in eval mode their ``softmax`` is the (background-exempted)
        TDE probability. ``cls_score`` has the dtype of the head's
        parameters: float32 under autocast, half after ``model.half()``."""
        # what ConvFCBBoxHead's forward hands to fc_cls: the
        # classification feature, which the moving average and TDE need
        # besides the logits. mmdet's forward runs as mmdet wrote it (it
        # calls self.fc_cls(x_cls) once; pinned by test_mmdet_internals)
        captured = []
        handle = self.fc_cls.register_forward_pre_hook(
            lambda module, args: captured.append(args[0]))
        try:
            y, bbox_pred = super().forward(x)
        finally:
            handle.remove()
        x_cls = captured[0]
        if self.training:
            # read by this forward's loss_and_target, if one follows (none
            # does after OHEM's mining forward or forward(mode='tensor'))
            self._train_feature = x_cls.detach()
            return y.to(self.fc_cls.weight.dtype), bbox_pred
        return self.predict_cls_score(x_cls, y), bbox_pred

    def loss_and_target(self,
                        cls_score: Tensor,
                        bbox_pred: Tensor,
                        rois: Tensor,
                        sampling_results: list,
                        rcnn_train_cfg,
                        concat: bool = True,
                        reduction_override: Optional[str] = None) -> dict:
        """mmdet's losses and targets; the targets' labels also feed the
        moving average, with the feature of the forward that made
        ``cls_score`` (applied at the next optimizer step, see
        :mod:`mmdet_causal.models.utils.embed_sync`)."""
        out = super().loss_and_target(cls_score, bbox_pred, rois,
                                      sampling_results, rcnn_train_cfg, concat,
                                      reduction_override)
        labels = out['bbox_targets'][0]
        if not concat:
            labels = torch.cat(list(labels))
        self.accumulate_embed(cls_score, labels)
        return out

    @torch.no_grad()
    def accumulate_embed(self, cls_score: Tensor, labels: Tensor) -> None:
        """Collect, for the next update of the average, the foreground
        (``0 <= label < num_classes``) features of the training forward
        that returned ``cls_score``.

        Raises:
            RuntimeError: If no training forward of this head, or one over
                another number of RoIs, came before.
            ValueError: If ``labels`` has another number of rows.
        """
        x_cls, self._train_feature = self._train_feature, None
        if x_cls is None or x_cls.shape[0] != cls_score.shape[0]:
            got = 'no training forward' if x_cls is None else (
                f'a training forward over {x_cls.shape[0]} RoIs')
            raise RuntimeError(
                f'{type(self).__name__}.loss_and_target got scores of '
                f'{cls_score.shape[0]} RoIs after {got}: the RoI head must '
                'run the box head in training mode on those RoIs right '
                'before (as mmdet\'s bbox_loss does)')
        if labels.shape[0] != x_cls.shape[0]:
            raise ValueError(
                f'got {labels.shape[0]} labels for {x_cls.shape[0]} RoIs; '
                'pass bbox_targets[0] of the same sampling results')
        fg = (labels >= 0) & (labels < self.num_classes)
        x_fg = torch.where(fg.unsqueeze(1), x_cls.float(), 0.0)
        stats = torch.cat([x_fg.sum(0), fg.sum().float().reshape(1)])
        pending = self._embed_stats
        self._embed_stats = stats if pending is None else pending + stats

    def take_embed_stats(self) -> Tensor:
        """The pending ``[sum of foreground features, count]`` (zeros if
        none), cleared."""
        stats, self._embed_stats = self._embed_stats, None
        if stats is None:
            stats = self.causal_embed.new_zeros(self.cls_last_dim + 1)
        return stats.float()

    @torch.no_grad()
    def update_embed_from_stats(self, stats: Tensor) -> None:
        """``e <- mu * e + sum / count`` from ``[sum, count]``; a zero count
        or a non-finite mean leaves ``e`` unchanged. Branch-free, so it
        never synchronises with the device."""
        total, count = stats[:-1], stats[-1]
        mean = total / count.clamp(min=1.0)
        valid = (count > 0) & torch.isfinite(mean).all()
        embed = self.causal_embed
        new = embed.float() * self.momentum + mean
        embed.copy_(torch.where(valid, new, embed.float()))

    def _apply(self, fn, *args, **kwargs):
        # model.half() or bfloat16 must not round the moving average (it grows
        # to mean / (1 - mu), past fp16's range): it stays float32 or wider
        embed = self.causal_embed
        super()._apply(fn, *args, **kwargs)
        if self.causal_embed.dtype in (torch.float16, torch.bfloat16):
            self.causal_embed = embed.to(
                device=self.causal_embed.device, dtype=torch.float32)
        return self

    def tde_terms(self,
                  x_cls: Tensor,
                  y: Optional[Tensor] = None) -> Tuple[Tensor, Tensor, Tensor]:
        """The pieces every alpha is made of, from the classification
        features ``x_cls`` ``(N, D)`` (and ``y = fc_cls(x_cls)`` if known),
        in float32 (float64 stays) whatever the input dtype: in fp16,
        ``eps = 1e-9`` would round to 0.

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
        """Test-time ``cls_score`` of the classification features ``x_cls``
        (see :meth:`combine_scores`); ``y = fc_cls(x_cls)`` if known."""
        if not self.use_tde:
            y = self.fc_cls(x_cls) if y is None else y
            return y.to(self.fc_cls.weight.dtype)
        self._check_embed()
        y, _, y0_unit = self.tde_terms(x_cls, y)
        return self.combine_scores(y, y0_unit, self.alpha)

    def _check_embed(self) -> None:
        # Once per head: a zero embedding makes TDE a silent no-op.
        if not self._embed_checked:
            self._embed_checked = True
            if self.alpha > 0 and not bool(self.causal_embed.any()):
                warn_untrained_embed()

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                              missing_keys, unexpected_keys,
                              error_msgs) -> None:
        state_dict = check_loaded_state(self, state_dict, prefix, missing_keys,
                                        error_msgs)
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
