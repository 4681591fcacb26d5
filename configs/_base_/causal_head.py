# The method's hyper-parameters for every causal box head, with the published
# defaults (Tang et al., NeurIPS 2020). alpha is used at test time only and
# can be changed without retraining (tools/test.py --tde-alpha A). The
# stock twins already load mmdet_causal (custom_imports) for FastLVISMetric.
causal_head = dict(
    num_heads=2,
    scale=16.0,
    gamma=1.0 / 32,
    momentum=0.9998,
    alpha=1.5,
    use_tde=True,
    background_exempt=True,
    sync_embed=True)
