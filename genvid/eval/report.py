"""An HTML report a person opens in a browser: tables, charts, contact sheets and animated clips.

``Report("out.html")`` writes ``out.html`` with its pictures in ``out_files/``; ``Report("out/")``
(a folder, or any path without ``.html``) writes ``out/index.html`` with them beside it. Pictures
are files referenced by relative paths and charts are inline SVG, so the report opens offline,
can be moved as a whole, and needs no plotting library. A small inline script counts the images
the browser decoded into ``<body data-images="loaded/total">`` (what the headless-browser test reads).
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Sequence

STYLE = """
body { font-family: sans-serif; margin: 24px; color: #222; max-width: 1400px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 8px 0; font-size: 14px; }
th, td { border: 1px solid #bbb; padding: 3px 8px; text-align: right; } th { background: #eee; }
td:first-child, th:first-child { text-align: left; }
figure { display: inline-block; margin: 6px; vertical-align: top; text-align: center; }
figcaption { font-size: 12px; max-width: 320px; }
img.pixels { image-rendering: pixelated; border: 1px solid #999; }
p.note { font-size: 13px; color: #555; max-width: 900px; }
"""

COUNT_IMAGES = """
<script>
window.addEventListener("load", function () {
  var images = document.images, loaded = 0;
  for (var i = 0; i < images.length; i++) { if (images[i].complete && images[i].naturalWidth > 0) loaded++; }
  document.body.setAttribute("data-images", loaded + "/" + images.length);
});
</script>
"""


def _format(value) -> str:
    if isinstance(value, float):
        if math.isinf(value) or math.isnan(value):
            return str(value)
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.1f}"
    return html.escape(str(value))


class Report:
    """Build a page section by section, then :meth:`write` it."""

    def __init__(self, target: str | Path, title: str):
        target = Path(target)
        if target.suffix.lower() in (".html", ".htm"):
            self.page = target
            self.assets = target.parent / f"{target.stem}_files"
        else:
            self.page = target / "index.html"
            self.assets = target
        self.title = title
        self.parts: list[str] = [f"<h1>{html.escape(title)}</h1>"]
        self._count = 0

    def _asset(self, suffix: str) -> tuple[Path, str]:
        """A new file for a picture and its path relative to the page."""
        self.assets.mkdir(parents=True, exist_ok=True)
        self._count += 1
        path = self.assets / f"{self._count:03d}{suffix}"
        return path, path.relative_to(self.page.parent).as_posix()

    def heading(self, text: str) -> None:
        self.parts.append(f"<h2>{html.escape(text)}</h2>")

    def note(self, text: str) -> None:
        self.parts.append(f'<p class="note">{html.escape(text)}</p>')

    def table(self, headers: Sequence[str], rows: Sequence[Sequence]) -> None:
        head = "".join(f"<th>{html.escape(str(name))}</th>" for name in headers)
        body = "".join("<tr>" + "".join(f"<td>{_format(value)}</td>" for value in row) + "</tr>" for row in rows)
        self.parts.append(f"<table><tr>{head}</tr>{body}</table>")

    def _figure(self, relative: str, caption: str, width: int | None) -> None:
        size = f' width="{width}"' if width else ""
        self.parts.append(
            f'<figure><img class="pixels" src="{html.escape(relative)}"{size} alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    def sheet(self, video_or_list, caption: str, width: int | None = None, columns: int | None = None) -> None:
        """A PNG contact sheet (see genvid.data.write_contact_sheet)."""
        from genvid.data import write_contact_sheet

        path, relative = self._asset(".png")
        write_contact_sheet(path, video_or_list, columns=columns)
        self._figure(relative, caption, width)

    def animation(self, video, caption: str, fps: float = 8, scale: int = 2) -> None:
        """An animated GIF of a ``(C, T, H, W)`` clip, shown ``scale`` times its size."""
        from genvid.data import write_video

        path, relative = self._asset(".gif")
        write_video(path, video, fps=fps)
        self._figure(relative, caption, video.shape[-1] * scale)

    def begin_grid(self) -> None:
        self.parts.append("<div>")

    def end_grid(self) -> None:
        self.parts.append("</div>")

    def bar_chart(self, title: str, labels: Sequence[str], values: Sequence[float], unit: str = "",
                  lower: float | None = None, upper: float | None = None) -> None:
        """An inline SVG bar chart, one bar per label, its value written above it."""
        finite = [value for value in values if math.isfinite(value)] or [0.0]
        lower = min(0.0, min(finite)) if lower is None else lower
        upper = max(finite) * 1.1 if upper is None else upper
        upper = upper if upper > lower else lower + 1
        bar, gap, height, left, top, bottom = 28, 10, 180, 48, 26, 70
        width = left + len(values) * (bar + gap) + gap
        parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{top + height + bottom}" role="img">',
            f'<text x="{left}" y="16" font-size="13" font-weight="bold">{html.escape(title)}</text>',
            f'<line x1="{left}" y1="{top + height}" x2="{width}" y2="{top + height}" stroke="#444"/>',
            f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + height}" stroke="#444"/>',
        ]
        for tick in range(5):
            value = lower + (upper - lower) * tick / 4
            y = top + height - height * tick / 4
            parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{value:.3g}{html.escape(unit)}</text>')
        for index, (label, value) in enumerate(zip(labels, values)):
            shown = value if math.isfinite(value) else upper
            fraction = max(0.0, min(1.0, (shown - lower) / (upper - lower)))
            x = left + gap + index * (bar + gap)
            y = top + height - height * fraction
            parts.append(f'<rect x="{x}" y="{y:.1f}" width="{bar}" height="{height * fraction:.1f}" fill="#4a7bb7"/>')
            parts.append(f'<text x="{x + bar / 2}" y="{y - 3:.1f}" font-size="9" text-anchor="middle">{_format(value)}</text>')
            short = label if len(label) <= 14 else label[:13] + "…"
            parts.append(
                f'<text x="{x + bar / 2}" y="{top + height + 10}" font-size="9" text-anchor="end" '
                f'transform="rotate(-45 {x + bar / 2} {top + height + 10})">{html.escape(short)}</text>'
            )
        parts.append("</svg>")
        self.parts.append("<div>" + "".join(parts) + "</div>")

    def write(self) -> Path:
        self.page.parent.mkdir(parents=True, exist_ok=True)
        body = "\n".join(self.parts)
        self.page.write_text(
            f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(self.title)}</title>'
            f"<style>{STYLE}</style></head>\n<body>\n{body}\n{COUNT_IMAGES}</body></html>\n",
            encoding="utf-8",
        )
        return self.page
