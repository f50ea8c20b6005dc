"""Segmenters for the benchmark tests: deliberately broken or degraded versions of the classical one.

Loaded by ``dxaspine bench`` as ``tests/_bench_plugins.py:NAME`` (a file spec), in the test
process or in a worker.
"""

from __future__ import annotations

import dataclasses
import zlib

import numpy as np

from dxaspine.segment import IntervertebralLine, segment_spine

SHIFT_MM = 4.0  # the brief's degradation: every line 4 mm caudal


def raises(density_map, scan):
    raise RuntimeError("this segmenter always fails")


def garbage(density_map, scan):
    return {"lines": "not a Segmentation"}


def wrong_shape(density_map, scan):
    seg = segment_spine(density_map, scan)
    return dataclasses.replace(seg, bone_mask=seg.bone_mask[:-3])


def shifted(density_map, scan):
    """The classical segmentation with every line, and the level regions, 4 mm caudal."""
    seg = segment_spine(density_map, scan)
    rows = int(round(SHIFT_MM / density_map.pixel_spacing_mm[0]))
    lines = tuple(
        IntervertebralLine((ln.left[0], ln.left[1] + rows), (ln.right[0], ln.right[1] + rows),
                           ln.name)
        for ln in seg.lines
    )  # fmt: skip
    label_image = np.zeros_like(seg.label_image)
    label_image[rows:] = seg.label_image[: label_image.shape[0] - rows]
    return dataclasses.replace(seg, lines=lines, label_image=label_image)


def relabelled(density_map, scan):
    """The classical segmentation with labels one level too high on about half the cases."""
    seg = segment_spine(density_map, scan)
    if zlib.crc32(str(scan.path).encode()) % 2:
        return seg
    order = ("T11", "T12", "L1", "L2", "L3", "L4", "L5")
    if seg.labels[0] not in order[1:]:
        return seg
    labels = tuple(order[order.index(n) - 1] for n in seg.labels)
    return dataclasses.replace(seg, labels=labels)
