"""Write a small folder of PNG images: shapes in one subfolder per class.

    python examples/images/make_data.py shapes/          # 3 classes x 40 training images
    python examples/images/make_data.py new/ --per-class 5 --seed 1   # images to predict

Each image is 28x28 RGB (some 32x24, to show `source.size` / `fit` at work): a filled circle,
square or triangle of a random colour, size and place on a noisy background.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ("circle", "square", "triangle")


def draw(kind: str, rng: np.random.Generator) -> Image.Image:
    width, height = (32, 24) if rng.random() < 0.25 else (28, 28)
    noise = rng.integers(0, 60, (height, width, 3), dtype=np.uint8)
    img = Image.fromarray(noise, "RGB")
    pen = ImageDraw.Draw(img)
    r = int(rng.integers(6, 10))
    cx, cy = int(rng.integers(r, width - r)), int(rng.integers(r, height - r))
    colour = tuple(int(c) for c in rng.integers(120, 256, 3))
    if kind == "circle":
        pen.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    elif kind == "square":
        pen.rectangle((cx - r, cy - r, cx + r, cy + r), fill=colour)
    else:
        pen.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
    return img


def write(out: Path, per_class: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for kind in CLASSES:
        folder = out / kind
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            draw(kind, rng).save(folder / f"{kind}_{i:03d}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--per-class", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    write(args.out, args.per_class, args.seed)
    print(f"wrote {args.per_class * len(CLASSES)} images under {args.out}")


if __name__ == "__main__":
    main()
