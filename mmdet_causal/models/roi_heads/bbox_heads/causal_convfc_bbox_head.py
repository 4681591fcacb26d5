# Copyright (c) mmdet-causal contributors. All rights reserved.
"""Box heads of de-confounded training and TDE inference.

Tang, Huang and Zhang, "Long-Tailed Classification by Keeping the Good and
Removing the Bad Momentum Causal Effect", NeurIPS 2020. The maths, with the
fixes to the public code, is specified in the project's ``method.md``.
"""
import logging
from typing import Dict, Optional, Tuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from mmdet.models.roi_heads.bbox_heads import ConvFCBBoxHead
from mmdet.registry import MODELS
from mmengine.logging import print_log
from torch import Tensor

LABEL_PASSING_ROI_HEADS = ('CausalCascadeRoIHead, '
                           'CausalHybridTaskCascadeRoIHead or '
                           'CausalStandardRoIHead')


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
            split into. Defaults to 2.
        scale (float): Logit scale ``tau``, applied as ``tau / K``.
            Defaults to 16.0.
        gamma (float): Offset in the classifier-weight norm. Defaults to 1/32.
        momentum (float): Decay ``mu`` of the moving average, in ``[0, 1)``.
            Defaults to 0.9998.
        alpha (float): Strength of the counterfactual at test time, ``>= 0``.
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
        kwargs['cls_predictor_cfg'] = dict(
            type='MultiHeadNormedLinear',
            num_heads=num_heads,
            scale=scale,
            gamma=gamma,
            eps=eps)
        super().__init__(*args, **kwargs)
        if not self.with_cls:
            raise ValueError(f'{type(self).__name__} needs with_cls=True')
        if self.custom_cls_channels or getattr(self.loss_cls, 'use_sigmoid',
                                               False):
            raise ValueError(
                f'{type(self).__name__} needs a softmax classification loss '
                'over num_classes + 1 channels (e.g. CrossEntropyLoss with '
                f'use_sigmoid=False), got {type(self.loss_cls).__name__}')
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

    @property
    def alpha(self) -> float:
        """Strength of the counterfactual; settable without retraining."""
        return self._alpha

    @alpha.setter
    def alpha(self, value: float) -> None:
        value = float(value)
        if not value >= 0.0:  # also rejects NaN
            raise ValueError(
                f'alpha must be a non-negative number, got {value}; use '
                'alpha=0 (or use_tde=False) for the plain de-confounded model')
        self._alpha = value

    # ------------------------------------------------------------------
    # forward
    # ------------------------------------------------------------------
    def _forward_features(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """The shared/cls/reg branches of :class:`ConvFCBBoxHead`, stopping
        before ``fc_cls`` and ``fc_reg``."""
        for conv in self.shared_convs:
            x = conv(x)
        if self.num_shared_fcs > 0:
            if self.with_avg_pool:
                x = self.avg_pool(x)
            x = x.flatten(1)
            for fc in self.shared_fcs:
                x = self.relu(fc(x))
        return (self._forward_branch(x, self.cls_convs, self.cls_fcs),
                self._forward_branch(x, self.reg_convs, self.reg_fcs))

    def _forward_branch(self, x: Tensor, convs, fcs) -> Tensor:
        for conv in convs:
            x = conv(x)
        if x.dim() > 2:
            if self.with_avg_pool:
                x = self.avg_pool(x)
            x = x.flatten(1)
        for fc in fcs:
            x = self.relu(fc(x))
        return x

    def forward(self,
                x: Tensor,
                labels: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Forward RoI features.

        Args:
            x (Tensor): RoI features, shape ``(N, C_in, H, W)``.
            labels (Tensor, optional): Per-RoI labels, shape ``(N,)``, with
                background ``= num_classes`` (``bbox_targets[0]``). Required
                in training, where they select the foreground RoIs of the
                moving average; ignored in eval mode.

        Returns:
            tuple[Tensor, Tensor]: ``cls_score`` of shape
            ``(N, num_classes + 1)`` and ``bbox_pred``. In training
            ``cls_score`` are the cosine logits ``y``; in eval mode their
            ``softmax`` is the (background-exempted) TDE probability.
        """
        x_cls, x_reg = self._forward_features(x)
        bbox_pred = self.fc_reg(x_reg) if self.with_reg else None
        if self.training:
            if labels is None:
                raise ValueError(
                    f'{type(self).__name__} needs per-RoI labels during '
                    f'training; use {LABEL_PASSING_ROI_HEADS}')
            self.update_embed(x_cls, labels)
            return self.fc_cls(x_cls), bbox_pred
        return self.predict_cls_score(x_cls), bbox_pred

    # ------------------------------------------------------------------
    # moving average
    # ------------------------------------------------------------------
    @torch.no_grad()
    def update_embed(self, x_cls: Tensor, labels: Tensor) -> None:
        """``e <- mu * e + mean of the foreground features``.

        Only ``0 <= label < num_classes`` counts (background is
        ``num_classes``). A batch without foreground, or with non-finite
        features, leaves ``e`` unchanged. With ``sync_embed`` the sum and
        count are all-reduced first, so every rank computes the same update.
        The update is branch-free, so it never synchronises with the device.

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

    # ------------------------------------------------------------------
    # inference
    # ------------------------------------------------------------------
    def tde_terms(self, x_cls: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """The pieces every alpha is made of.

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
        x_hat = cls.split_normalize(x_cls, self.eps)  # (N, K, d)
        w_hat = cls.normalized_weight()  # (C+1, K, d)
        e_hat = cls.split_normalize(
            self.causal_embed.to(x_hat.dtype), self.eps)  # (K, d)
        y = (cls.scale / self.num_heads) * x_hat.flatten(1).matmul(
            w_hat.flatten(1).t())
        cos = torch.einsum('nkd,kd->nk', x_hat, e_hat)
        e_w = torch.einsum('kd,ckd->kc', e_hat, w_hat)  # (K, C+1)
        y0_unit = (cls.scale / self.num_heads) * cos.matmul(e_w)
        return y, cos, y0_unit

    def combine_scores(self, y: Tensor, y0_unit: Tensor,
                       alpha: float) -> Tensor:
        """Final ``cls_score`` for one alpha from :meth:`tde_terms`.

        Background-exempted: returns ``log P`` with
        ``P_bg = p_bg`` and ``P_c = (1 - p_bg) softmax(z[:C])_c``, where
        ``p = softmax(y)`` and ``z = y - alpha * y0_unit``. Otherwise returns
        ``z``. Either way ``softmax`` of the result is the probability.
        """
        z = y - alpha * y0_unit
        if not self.background_exempt:
            return z
        log_norm = torch.logsumexp(y, dim=1, keepdim=True)
        log_p_bg = y[:, -1:] - log_norm
        # log(1 - p_bg) = logsumexp(y_fg) - logsumexp(y), computed without
        # cancellation when p_bg is close to 1.
        log_p_fg = torch.logsumexp(y[:, :-1], dim=1, keepdim=True) - log_norm
        log_q_fg = F.log_softmax(z[:, :-1], dim=1)
        return torch.cat([log_p_fg + log_q_fg, log_p_bg], dim=1)

    def predict_cls_score(self, x_cls: Tensor) -> Tensor:
        """Test-time ``cls_score`` (see :meth:`combine_scores`)."""
        if not self.use_tde:
            return self.fc_cls(x_cls)
        self._check_embed()
        y, cos, y0_unit = self.tde_terms(x_cls)
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
            print_log(
                f'{type(self).__name__}: causal_embed is all zeros, so TDE '
                'changes nothing. Load a checkpoint trained with a causal '
                'box head (and a Causal*RoIHead), or set use_tde=False.',
                logger='current',
                level=logging.WARNING)

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

    def cos_stats(self) -> Dict[str, object]:
        """Mean ``cos`` over all RoIs seen in eval mode since the last reset.

        Returns:
            dict: ``per_head`` (list of K floats), ``mean`` (float, over
            heads and RoIs), ``num_rois`` and ``rule_of_thumb_alpha``
            (``1 / mean``, the authors' advice: ``mean(alpha * cos) ~ 1``),
            all None when no RoI was seen.
        """
        if self._cos_count == 0:
            return dict(
                per_head=None, mean=None, num_rois=0, rule_of_thumb_alpha=None)
        per_head = (self._cos_sum / self._cos_count).tolist()
        mean = sum(per_head) / len(per_head)
        return dict(
            per_head=per_head,
            mean=mean,
            num_rois=self._cos_count,
            rule_of_thumb_alpha=1.0 / mean if mean > 0 else None)

    # ------------------------------------------------------------------
    # checkpoints
    # ------------------------------------------------------------------
    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                              missing_keys, unexpected_keys,
                              error_msgs) -> None:
        key = prefix + 'causal_embed'
        if key not in state_dict:
            print_log(
                f'{type(self).__name__} ({prefix or "top level"}): the '
                f'checkpoint has no "{key}" (a stock, non-causal head?); the '
                'moving average stays as it is, so TDE has no effect until '
                'the model is trained with this head.',
                logger='current',
                level=logging.WARNING)
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
class CausalShared2FCBBoxHead(CausalConvFCBBoxHead):
    """:class:`CausalConvFCBBoxHead` shaped as mmdet's Shared2FCBBoxHead."""

    def __init__(self, fc_out_channels: int = 1024, *args, **kwargs) -> None:
        super().__init__(
            *args,
            num_shared_convs=0,
            num_shared_fcs=2,
            num_cls_convs=0,
            num_cls_fcs=0,
            num_reg_convs=0,
            num_reg_fcs=0,
            fc_out_channels=fc_out_channels,
            **kwargs)


@MODELS.register_module()
class CausalShared4Conv1FCBBoxHead(CausalConvFCBBoxHead):
    """:class:`CausalConvFCBBoxHead` shaped as mmdet's
    Shared4Conv1FCBBoxHead."""

    def __init__(self, fc_out_channels: int = 1024, *args, **kwargs) -> None:
        super().__init__(
            *args,
            num_shared_convs=4,
            num_shared_fcs=1,
            num_cls_convs=0,
            num_cls_fcs=0,
            num_reg_convs=0,
            num_reg_fcs=0,
            fc_out_channels=fc_out_channels,
            **kwargs)
