#!/usr/bin/env python3
"""Writes the photos the virtual users send (data/files/photo-<set>-<W>x<H>.jpg): for each
photo, the sizes Telegram would make of it, smallest first, as baseline JPEGs. Needs Pillow
(a throwaway venv will do):

    python3 -m venv /tmp/pil && /tmp/pil/bin/pip install pillow
    /tmp/pil/bin/python tools/make-photos.py data/files

The picture is drawn, not photographed: a sky gradient, a sun, hills. The sizes are listed in
src/telegram/media.rs, which must name the same widths and heights.
"""

import os
import sys

from PIL import Image, ImageDraw

# name: (width, height) of each size, smallest first.
SETS = {
    "landscape": [(90, 67), (320, 240), (800, 600), (1280, 960)],
    "portrait": [(50, 90), (180, 320), (450, 800), (720, 1280)],
    "square": [(90, 90), (320, 320), (800, 800)],
}


def picture(width, height):
    img = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(img)
    for y in range(height):
        t = y / max(1, height - 1)
        draw.line([(0, y), (width, y)], fill=(int(70 + 120 * t), int(130 + 90 * t), int(230 - 40 * t)))
    r = min(width, height) // 8
    cx, cy = width * 7 // 10, height // 4
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(255, 214, 90))
    draw.polygon([(0, height), (0, height * 3 // 4), (width // 3, height * 3 // 5),
                  (width * 2 // 3, height * 4 // 5), (width, height * 13 // 20), (width, height)],
                 fill=(60, 140, 70))
    return img


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make-photos.py <folder>")
    for name, sizes in SETS.items():
        big = picture(*sizes[-1])
        for w, h in sizes:
            path = os.path.join(sys.argv[1], f"photo-{name}-{w}x{h}.jpg")
            big.resize((w, h), Image.LANCZOS).save(path, "JPEG", quality=75, progressive=False)
            print(path, os.path.getsize(path))


if __name__ == "__main__":
    main()
