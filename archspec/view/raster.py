"""A drawing (:mod:`.drawing`) painted by matplotlib: PNG through Agg, PDF through its PDF backend.

No browser and no system program: matplotlib is already a dependency (training plots). The
figure is made in points, one point per SVG pixel, so the PNG is the SVG drawn at ``scale``.
Text is never read as mathtext (``parse_math=False``): a ``$`` in a layer name stays a ``$``.
"""

from __future__ import annotations

from typing import Any

from .drawing import Drawing, Line, Rect, Text, parts

#: The longest side of a PNG, in pixels: a 1,000-layer network stays a picture, not a memory hog.
MAX_PIXELS = 16000
PNG_SCALE = 2.0


def render(drawing: Drawing, fmt: str) -> bytes:
    """``drawing`` painted as a ``png`` or ``pdf`` file's bytes (the caller writes them atomically)."""
    import io

    from matplotlib.figure import Figure

    fig = Figure(figsize=(drawing.width / 72, drawing.height / 72))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, drawing.width)
    ax.set_ylim(drawing.height, 0)
    ax.set_axis_off()
    for _item, part in parts(drawing):
        _paint(ax, part)
    scale = min(PNG_SCALE, MAX_PIXELS / max(drawing.width, drawing.height)) if fmt == "png" else 1.0
    extra = {"pil_kwargs": {"compress_level": 3}} if fmt == "png" else {}  # zlib 6 doubled the time of a tall net
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=72 * scale, **extra)
    return buffer.getvalue()


def _paint(ax: Any, part: Rect | Text | Line) -> None:
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    if isinstance(part, Rect):
        style = (
            f"round,pad=0,rounding_size={min(part.rounded, part.w / 2, part.h / 2)}" if part.rounded else "square,pad=0"
        )
        ax.add_patch(
            FancyBboxPatch(
                (part.x, part.y),
                part.w,
                part.h,
                boxstyle=style,
                facecolor="none" if part.fill == "none" else part.fill,
                edgecolor=part.stroke,
                linewidth=part.width * 0.75,
                linestyle="--" if part.dashed else "-",
            )
        )
    elif isinstance(part, Text):
        ax.text(
            part.x,
            part.y,
            part.text,
            fontsize=part.size,
            fontweight="bold" if part.bold else "normal",
            ha="left" if part.anchor == "start" else "center",
            va="baseline",
            color=part.colour,
            parse_math=False,
            family="sans-serif",
        )
    else:
        xs, ys = zip(*part.points)
        ax.plot(xs[:-1], ys[:-1], color=part.colour, linewidth=0.9, solid_capstyle="butt")
        ax.add_patch(
            FancyArrowPatch(
                part.points[-2],
                part.points[-1],
                arrowstyle="-|>,head_length=5,head_width=2.5" if part.arrow else "-",
                color=part.colour,
                linewidth=0.9,
                shrinkA=0,
                shrinkB=0,
            )
        )
