"""Real photographs that installed Python packages ship inside their wheels: training data with no download.

scikit-image (a genvid dependency) bundles a set of classic test photographs in ``skimage/data``;
matplotlib and scikit-learn, when installed, add a few more. Only files that are really in the wheels
are used (scikit-image fetches its larger images -- brain, cells3d, eagle, kidney, lily, skin... --
with pooch on first use; those are never touched). The files are found at run time from the
installed packages, without importing them.

The images (``name``: package file):

================================  ==========================================================
scikit-image ``skimage/data/``    astronaut.png, brick.png, camera.png, cell.png, chelsea.png,
                                  clock_motion.png, coffee.png, coins.png, grass.png,
                                  gravel.png, hubble_deep_field.jpg, ihc.png, moon.png,
                                  motorcycle_left.png, motorcycle_right.png, page.png,
                                  retina.jpg, rocket.jpg, text.png
matplotlib ``mpl-data/sample_data/``  grace_hopper.jpg (optional package)
scikit-learn ``datasets/images/``     china.jpg, flower.jpg (optional package)
================================  ==========================================================

Graphics that are not photographs (chessboards, logos, colour wheel, phantom, horse silhouette),
the 25x25 faces of ``lfw_subset.npy`` and tiny files (microaneurysms, the 25x14 gif) are left out.

**Held-out evaluation images** (:data:`HELDOUT_IMAGES`, never in the "train" split): scikit-image's
``coffee.png``, ``rocket.jpg``, ``motorcycle_left.png`` and ``motorcycle_right.png`` -- the last two
are a stereo pair of one scene, so both are held out together. They come from the required
dependency, so the held-out set is the same on every installation; the training split grows with the
optional packages.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from genvid.errors import GenvidError

#: (name, package, path inside the package)
BUNDLED_IMAGES: tuple[tuple[str, str, str], ...] = (
    ("astronaut", "skimage", "data/astronaut.png"),
    ("brick", "skimage", "data/brick.png"),
    ("camera", "skimage", "data/camera.png"),
    ("cell", "skimage", "data/cell.png"),
    ("chelsea", "skimage", "data/chelsea.png"),
    ("clock_motion", "skimage", "data/clock_motion.png"),
    ("coffee", "skimage", "data/coffee.png"),
    ("coins", "skimage", "data/coins.png"),
    ("grass", "skimage", "data/grass.png"),
    ("gravel", "skimage", "data/gravel.png"),
    ("hubble_deep_field", "skimage", "data/hubble_deep_field.jpg"),
    ("ihc", "skimage", "data/ihc.png"),
    ("moon", "skimage", "data/moon.png"),
    ("motorcycle_left", "skimage", "data/motorcycle_left.png"),
    ("motorcycle_right", "skimage", "data/motorcycle_right.png"),
    ("page", "skimage", "data/page.png"),
    ("retina", "skimage", "data/retina.jpg"),
    ("rocket", "skimage", "data/rocket.jpg"),
    ("text", "skimage", "data/text.png"),
    ("grace_hopper", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
    ("china", "sklearn", "datasets/images/china.jpg"),
    ("flower", "sklearn", "datasets/images/flower.jpg"),
)

#: fixed evaluation images; all from scikit-image so that every installation holds out the same ones
HELDOUT_IMAGES: tuple[str, ...] = ("coffee", "rocket", "motorcycle_left", "motorcycle_right")
REQUIRED_PACKAGE = "skimage"
SPLITS = ("train", "heldout", "all")


@dataclass(frozen=True)
class RealImage:
    name: str
    package: str
    path: Path


@lru_cache(maxsize=None)
def _package_root(package: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def bundled_images(split: str = "train") -> list[RealImage]:
    """The bundled photographs of ``split`` ("train" | "heldout" | "all") found in the installed packages."""
    if split not in SPLITS:
        raise GenvidError(f"unknown real-image split {split!r}; expected one of {', '.join(SPLITS)}")
    if _package_root(REQUIRED_PACKAGE) is None:
        raise GenvidError("the real-image set needs scikit-image's bundled photographs: pip install scikit-image")
    found = []
    for name, package, relative in BUNDLED_IMAGES:
        held_out = name in HELDOUT_IMAGES
        if (split == "train" and held_out) or (split == "heldout" and not held_out):
            continue
        root = _package_root(package)
        if root is not None and (root / relative).is_file():
            found.append(RealImage(name, package, root / relative))
    if not found:
        raise GenvidError(f"no bundled photographs of split {split!r} found (is scikit-image installed whole?)")
    return found


@lru_cache(maxsize=32)
def _load_uint8(path: str) -> np.ndarray:
    import imageio.v3 as iio

    array = np.asarray(iio.imread(path))
    if array.ndim == 2:  # grayscale photographs enter as neutral colour
        array = np.repeat(array[..., None], 3, axis=-1)
    array = array[..., :3]
    if array.dtype != np.uint8:
        array = (array.astype(np.float64) / max(float(array.max()), 1.0) * 255).round().astype(np.uint8)
    return np.ascontiguousarray(array)


def load_image(image: RealImage | str | Path) -> torch.Tensor:
    """A photograph as ``(3, H, W)`` float in [-1, 1] (grayscale repeated to RGB, alpha dropped)."""
    path = image.path if isinstance(image, RealImage) else Path(image)
    if not path.is_file():
        raise GenvidError(f"image not found: {path}")
    array = _load_uint8(str(path))
    return torch.from_numpy(array).permute(2, 0, 1).float().div(127.5).sub(1.0)
