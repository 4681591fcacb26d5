# Copyright (c) mmdet-causal contributors. All rights reserved.
"""An independent, deliberately plain re-implementation of method.md.

Per-head loops and full products, in the symbols of the spec; it shares no
code with mmdet_causal, so the package is checked against the maths and not
against itself.
"""
import torch


def ref_logits(x, w, num_heads, tau, gamma, eps):
    """y_c = (tau / K) sum_k x̂_k · ŵ_{c,k}."""
    d = x.shape[1] // num_heads
    y = torch.zeros(x.shape[0], w.shape[0], dtype=x.dtype)
    for k in range(num_heads):
        xk, wk = x[:, k * d:(k + 1) * d], w[:, k * d:(k + 1) * d]
        xk = xk / (xk.norm(dim=1, keepdim=True) + eps)
        wk = wk / (wk.norm(dim=1, keepdim=True) + gamma)
        for i in range(x.shape[0]):
            for c in range(w.shape[0]):
                y[i, c] += tau / num_heads * torch.dot(xk[i], wk[c])
    return y


def ref_probs(x, w, e, num_heads, tau, gamma, eps, alpha, bg_exempt):
    """The test-time probabilities P (background = last column)."""
    num_fg = w.shape[0] - 1
    d = x.shape[1] // num_heads
    y = ref_logits(x, w, num_heads, tau, gamma, eps)
    y0 = torch.zeros_like(y)
    for k in range(num_heads):
        xk, wk, ek = (x[:, k * d:(k + 1) * d], w[:, k * d:(k + 1) * d],
                      e[k * d:(k + 1) * d])
        xk = xk / (xk.norm(dim=1, keepdim=True) + eps)
        wk = wk / (wk.norm(dim=1, keepdim=True) + gamma)
        ek = ek / (ek.norm() + eps)
        for i in range(x.shape[0]):
            cos = torch.dot(xk[i], ek)
            for c in range(w.shape[0]):
                y0[i,
                   c] += tau / num_heads * alpha * cos * torch.dot(ek, wk[c])
    z = y - y0
    p, q = torch.softmax(y, 1), torch.softmax(z, 1)
    if not bg_exempt:
        return q
    out = torch.empty_like(p)
    out[:, num_fg] = p[:, num_fg]
    # 1 - p_bg as the sum of the foreground probabilities: the same number,
    # without the cancellation when p_bg is close to 1
    p_fg = p[:, :num_fg].sum(1, keepdim=True)
    out[:, :num_fg] = p_fg * q[:, :num_fg] / q[:, :num_fg].sum(1, keepdim=True)
    return out


def ref_log_probs(x, w, e, num_heads, tau, gamma, eps, alpha):
    """log P, background-exempted, in the dtype of the inputs (float64)."""
    return ref_probs(x, w, e, num_heads, tau, gamma, eps, alpha, True).log()


def cls_feature(head, feats):
    """The classification feature a causal head's own forward hands to its
    classifier."""
    captured = []
    handle = head.fc_cls.register_forward_pre_hook(
        lambda module, args: captured.append(args[0]))
    try:
        head(feats)
    finally:
        handle.remove()
    return captured[0]
