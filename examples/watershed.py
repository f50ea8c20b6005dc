"""An example plug-in segmenter: scikit-image watershed on the bone map.

Written against the segmenter contract only (docs/architecture.md, "Segmenters"): it takes a
``DensityMap`` (and the ``Scan``, unused here) and returns a ``dxaspine.segment.Segmentation``;
it imports nothing of dxaspine but the contract's types and the level vocabulary.  Run it::

    dxaspine bench run --segmenter examples.watershed:segment --suite standard
    dxaspine analyze scan.dcm --segmenter examples.watershed:segment

(from the clone, or name the file: ``--segmenter path/to/examples/watershed.py:segment``).

How it works, on a ~1 mm working grid:

1. smooth the map (Gaussian, 1.5 mm) and scale it so the field's soft tissue (20th
   percentile) reads 0 and its densest bone (99.5th) reads 1;
2. spine axis: on each row, the centre of the brightest 36 mm-wide band, median-filtered
   over 41 rows;
3. vertebral-body markers: peaks of the mean brightness along the axis (bodies are bright,
   discs dark), at least 24 mm apart (docs/domain.md §4: the vertebra-plus-disc period is
   about 37 mm, bodies 20-30 mm high);
4. ``skimage.segmentation.watershed`` of the inverted brightness from those markers, inside
   the band: each basin is one vertebra, and the boundary between two basins runs through
   their disc; a straight line fitted through each boundary is the intervertebral line;
5. labels from one cue: the iliac wings (bone on both sides of the spine, low in the image)
   begin at the L4/L5 disc (docs/domain.md §4), so the line nearest the top of the wings is
   L4/L5 and the levels are counted up from it.  One cue only, so every label carries
   confidence 0.6 when the wings are found (0.3 when not, counting as if the lowest line were
   L4/L5), and the scan the ``label_single_cue`` flag.

It is a second, independent method for the benchmark to compare, not a contender: it knows
nothing of ribs, transitional anatomy or lesions.  The module-level imports are the pattern a
learned model follows too (see examples/README.md): load weights once, at import, per worker.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import ndimage, signal
from skimage.segmentation import watershed

from dxaspine.levels import LEVEL_ORDER, disc_name, next_level, previous_level
from dxaspine.segment import IntervertebralLine, QcFlag, Segmentation

WORK_MM = 1.0
SMOOTH_MM = 1.5
BAND_HALF_WIDTH_MM = 18.0  # the brightest band: about a lumbar body (40-50 mm wide, §4)
BOX_MARGIN_MM = 7.0  # the analysis box reaches a little beyond the body (the phantom's rule)
MIN_PERIOD_MM = 24.0
DISC_DEPTH = 0.05  # a disc is this much darker (scaled brightness) than both bodies
AXIS_MEDIAN_MM = 41.0
WING_OFFSET_MM = (35.0, 90.0)  # where iliac wings lie beside the spine
WING_FILL = 0.3
BONE_LEVEL = 0.25  # fraction of the scaled brightness counted as bone on the working grid
DXA_BONE_THRESHOLD_G_CM2 = 0.1  # docs/domain.md §5: just above the soft-tissue peak
CONFIDENCE_CUE, CONFIDENCE_NO_CUE = 0.6, 0.3


def _work_grid(values, field, spacing):
    factors = tuple(max(1, int(round(WORK_MM / s))) for s in spacing)
    rows = values.shape[0] // factors[0] * factors[0]
    cols = values.shape[1] // factors[1] * factors[1]
    v = np.where(field, values, np.nan)[:rows, :cols]
    blocks = v.reshape(rows // factors[0], factors[0], cols // factors[1], factors[1])
    with warnings.catch_warnings():  # blocks wholly outside the field are NaN, as meant
        warnings.simplefilter("ignore", RuntimeWarning)
        work = np.nanmean(blocks, axis=(1, 3))
    ok = np.isfinite(work)
    fill = np.nanpercentile(work, 5) if ok.any() else 0.0
    work = np.where(ok, work, fill)
    step = (spacing[0] * factors[0], spacing[1] * factors[1])
    work = ndimage.gaussian_filter(work, (SMOOTH_MM / step[0], SMOOTH_MM / step[1]))
    lo, hi = np.percentile(work[ok], [20, 99.5]) if ok.any() else (0.0, 1.0)
    return (work - lo) / max(hi - lo, 1e-9), ok, factors, step


def _axis(work, step):
    half = max(1, int(round(BAND_HALF_WIDTH_MM / step[1])))
    band = ndimage.uniform_filter1d(work, 2 * half + 1, axis=1)
    cols = band.argmax(axis=1).astype(float)
    size = max(3, int(round(AXIS_MEDIAN_MM / step[0])) | 1)
    return ndimage.median_filter(cols, size=size, mode="nearest"), half


def _fit_line(rows, cols):
    if cols.size < 3 or np.ptp(cols) == 0:
        return float(np.mean(rows)), 0.0
    slope, intercept = np.polyfit(cols, rows, 1)
    return float(intercept), float(slope)


def segment(density_map, scan) -> Segmentation:
    """Watershed segmentation of one scan (see the module docstring)."""
    values = np.asarray(density_map.values, dtype=float)
    field = np.asarray(density_map.field_mask, dtype=bool) & np.isfinite(values)
    spacing = tuple(float(s) for s in density_map.pixel_spacing_mm)
    work, ok, factors, step = _work_grid(values, field, spacing)
    axis, half = _axis(work, step)
    rr, cc = np.mgrid[0 : work.shape[0], 0 : work.shape[1]]
    band = (np.abs(cc - axis[:, None]) <= half) & ok

    profile = np.array([work[r, band[r]].mean() if band[r].any() else 0.0
                        for r in range(work.shape[0])])  # fmt: skip
    peaks, _ = signal.find_peaks(profile, distance=max(1, int(MIN_PERIOD_MM / step[0])),
                                 prominence=0.05)  # fmt: skip
    if peaks.size < 3:
        from dxaspine.errors import SegmentationError

        raise SegmentationError(f"{getattr(scan, 'path', None)}: watershed found "
                                f"{peaks.size} vertebral bodies; need 3 or more")  # fmt: skip
    # markers: each body's peak row, plus the field's first and last band rows, so that the
    # bodies cut by the field edges get their own basins and their discs are found too
    min_gap = int(MIN_PERIOD_MM / step[0])
    seeds = list(peaks)
    band_rows = np.nonzero(band.any(axis=1))[0]
    if band_rows.size and peaks[0] - band_rows[0] > min_gap // 2:
        seeds.insert(0, int(band_rows[0]))
    if band_rows.size and band_rows[-1] - peaks[-1] > min_gap // 2:
        seeds.append(int(band_rows[-1]))
    markers = np.zeros(work.shape, dtype=np.int32)
    for k, r in enumerate(seeds):
        markers[r, band[r]] = k + 1
    basins = watershed(-work, markers, mask=band)

    # one line through each boundary between consecutive basins that runs through a disc:
    # the profile at the boundary is darker than the brightest row of both basins
    work_lines = []
    for k in range(1, len(seeds)):
        upper = basins == k
        lower = basins == k + 1
        edge = upper & ndimage.binary_dilation(lower, structure=np.ones((3, 3), bool))
        if edge.sum() < 3:
            continue
        mid = float(np.median(rr[edge]))
        rows_up = np.nonzero(upper.any(axis=1))[0]
        rows_lo = np.nonzero(lower.any(axis=1))[0]
        dip = profile[int(round(mid))]
        if dip > min(profile[rows_up].max(), profile[rows_lo].max()) - DISC_DEPTH:
            continue  # no disc between these basins (an edge seed inside one body)
        intercept, slope = _fit_line(rr[edge].astype(float), cc[edge].astype(float))
        column = float(axis[int(np.clip(round(mid), 0, work.shape[0] - 1))])
        work_lines.append((intercept + slope * column, column, slope))

    # the cue: the top of the iliac wings, on both sides of the spine, in the lower half
    lo_off, hi_off = (int(WING_OFFSET_MM[0] / step[1]), int(WING_OFFSET_MM[1] / step[1]))
    offset = cc - axis[:, None]
    bone = work > BONE_LEVEL
    left = (offset <= -lo_off) & (offset >= -hi_off) & ok
    right = (offset >= lo_off) & (offset <= hi_off) & ok
    fill_l = (bone & left).sum(axis=1) / np.maximum(left.sum(axis=1), 1)
    fill_r = (bone & right).sum(axis=1) / np.maximum(right.sum(axis=1), 1)
    wing_rows = np.nonzero((fill_l > WING_FILL) & (fill_r > WING_FILL)
                           & (np.arange(work.shape[0]) > work.shape[0] / 2))[0]  # fmt: skip
    line_rows = np.array([r for r, _, _ in work_lines])
    if wing_rows.size and line_rows.size:
        anchor = int(np.argmin(np.abs(line_rows - wing_rows[0])))
        confidence = CONFIDENCE_CUE
    else:
        anchor, confidence = len(work_lines) - 1, CONFIDENCE_NO_CUE
    # level between line i and i + 1; line `anchor` is L4/L5, so level anchor - 1 is L4
    names = []
    for i in range(len(work_lines) - 1):
        name = "L4"
        for _ in range(anchor - 1 - i):
            name = previous_level(name)
        for _ in range(i - (anchor - 1)):
            name = next_level(name)
        names.append(name)
    keep = [i for i, n in enumerate(names) if n in LEVEL_ORDER]
    if len(keep) < 2:
        from dxaspine.errors import SegmentationError

        raise SegmentationError(f"{getattr(scan, 'path', None)}: watershed found fewer than "
                                "2 nameable levels")  # fmt: skip
    first, last = keep[0], keep[-1]
    names = names[first : last + 1]
    chosen = work_lines[first : last + 2]

    # back to full resolution: work pixel centre (i + 0.5) * factor - 0.5
    def full(r, c):
        return (r + 0.5) * factors[0] - 0.5, (c + 0.5) * factors[1] - 0.5

    shape = values.shape
    full_axis = np.interp(np.arange(shape[0]), (np.arange(axis.size) + 0.5) * factors[0] - 0.5,
                          (axis + 0.5) * factors[1] - 0.5)  # fmt: skip
    half_px = (BAND_HALF_WIDTH_MM + BOX_MARGIN_MM) / spacing[1]
    lines = []
    for i, (row, col, slope) in enumerate(chosen):
        fr, fc = full(row, col)
        s = slope * factors[0] / factors[1]
        upper = names[i - 1] if i > 0 else None
        lower = names[i] if i < len(names) else None
        lines.append(IntervertebralLine((fc - half_px, fr - s * half_px),
                                        (fc + half_px, fr + s * half_px), disc_name(upper, lower)))  # fmt: skip
    grid_r, grid_c = np.mgrid[0 : shape[0], 0 : shape[1]].astype(float)
    box = np.abs(grid_c - full_axis[:, None]) <= half_px
    below = [grid_r >= ln.row_at(grid_c) for ln in lines]
    level = np.sum(below, axis=0)  # lines above the pixel
    label_image = np.where(box & (level >= 1) & (level <= len(names)), level, 0).astype(np.int32)
    if density_map.quantitative:
        bone_full = values > DXA_BONE_THRESHOLD_G_CM2
    else:
        lo, hi = np.percentile(values[field], [20, 99.5])
        bone_full = values > lo + 0.1 * (hi - lo)
    bone_full &= field & (label_image > 0)
    return Segmentation(
        bone_mask=bone_full,
        axis_rows=np.arange(shape[0], dtype=float),
        axis_columns=full_axis,
        box_mask=box & (label_image > 0),
        lines=tuple(lines),
        labels=tuple(names),
        label_confidence=tuple(confidence for _ in names),
        label_image=label_image,
        qc_flags=(
            QcFlag("label_single_cue", "watershed example: labels from the iliac wings only"),
        ),
    )
