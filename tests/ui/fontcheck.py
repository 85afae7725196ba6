"""Whether text is drawn in a monospace font, judged by the glyphs.

``QFontInfo.fixedPitch()`` reads a flag of the font file that not every
monospace font sets the way Qt expects (fontconfig's "monospace" resolves to
Noto Sans Mono on a machine with Debian's fonts-noto-mono, which Qt reports
as not fixed pitch). What a reader sees is that narrow and wide letters take
the same room; that is what is checked.
"""

from PySide6.QtGui import QFont, QFontMetricsF


def monospaced(font: QFont) -> bool:
    metrics = QFontMetricsF(font)
    return abs(metrics.horizontalAdvance("iiii") - metrics.horizontalAdvance("WWWW")) < 0.5
