# Copyright (c) mmdet-causal contributors. All rights reserved.
import io


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (files only, no display)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def save_png(fig, path: str, dpi: int = 90) -> None:
    """Save a matplotlib figure as a small PNG: rendered, then reduced to a
    256-colour palette (figures and detection panels keep their look at a
    third of the size, so they can be committed and shown in a README)."""
    from PIL import Image
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=dpi)
    buf.seek(0)
    with Image.open(buf) as img:
        img.convert('RGB').quantize(colors=256).save(path, optimize=True)
