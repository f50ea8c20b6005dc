"""A vendor-like 8-bit display export of a case (docs/domain.md §6, the UK Biobank iDXA example).

CR Image Storage, Modality CR, 8-bit MONOCHROME2 (optionally MONOCHROME1), **no
PixelSpacing**, ExposedArea = [width_mm, length_mm] of the whole stored matrix,
PatientOrientation L\\F, ProtocolName "AP Spine", BodyPartExamined "LSPINE".

The grey value is a bone-enhanced image computed from the *noisy* counts the way a vendor
display does (Hologic's Q = L - kH, docs/domain.md §5), with k the median log-ratio of the image,
lightly smoothed: soft tissue is mid-grey, bone bright.  Normal bone stays below 255; metal
saturates.  Columns outside the scanned field are saturated white in ragged vertical strips
whose edge jitters row to row, so a loader has to find the field by geometry, not by value.
With ``PhantomParams.display_annotations`` the vendor's graphics (disc lines, box sides, level
labels, a text block) are burned in (:mod:`dxaspine.phantom.annotations`).
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from scipy.ndimage import gaussian_filter

from dxaspine.phantom.annotations import burn_in
from dxaspine.phantom.case import PhantomCase
from dxaspine.phantom.dicom_writer import base_dataset, file_meta, flip_array, set_stored_pixels

CR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1"
_SOFT_GREY = 72.0  # grey of bone-free soft tissue
_TOP_GREY = 240.0
_METAL_G_CM2 = 5.0
_STARVED_COUNTS = 10.0


def display_image(case: PhantomCase) -> np.ndarray:
    """(rows, cols) uint8 MONOCHROME2 image, head-up, with the white strips."""
    i0_low, i0_high = case.truth["i0_counts"]
    log_low = np.log(i0_low / np.maximum(case.counts_low, 1.0))
    log_high = np.log(i0_high / np.maximum(case.counts_high, 1.0))
    k = float(np.median(log_low / log_high))
    mu_low, mu_high = case.truth["bone_mu_cm2_g"]
    q_g_cm2 = (log_low - k * log_high) / (mu_low - k * mu_high)
    sigma = [0.4 / s for s in case.pixel_spacing_mm]  # vendor-style light smoothing, 0.4 mm
    q_g_cm2 = gaussian_filter(q_g_cm2, sigma, mode="nearest")
    # auto-window like a vendor display: the densest non-metal bone maps to ~240, metal
    # (HA-equivalent > 5 g/cm2, far above any bone) saturates
    bone_like = q_g_cm2[q_g_cm2 < _METAL_G_CM2]
    top = max(float(np.percentile(bone_like, 99.95)), 1.0) if bone_like.size else 1.0
    gain = (_TOP_GREY - _SOFT_GREY) / top
    grey = np.clip(np.rint(_SOFT_GREY + gain * q_g_cm2), 0, 255).astype(np.uint8)
    # photon starvation behind metal: the vendor shows it white, not as a log of ~0 counts
    starved = (case.counts_low < _STARVED_COUNTS) | (case.counts_high < _STARVED_COUNTS)
    grey[gaussian_filter(starved.astype(float), sigma, mode="nearest") > 0.2] = 255
    if case.params.display_annotations:  # vendor graphics, drawn inside the field only
        grey = burn_in(grey, case.truth, case.params.display_annotation_text_block)
    cols = grey.shape[1]
    col = np.arange(cols)[None, :]
    outside = (col < case.strip_left_px[:, None]) | (col >= cols - case.strip_right_px[:, None])
    grey[outside] = 255
    return grey


def display_dataset(case: PhantomCase, flip=()) -> Dataset:
    ds = base_dataset(case, "display", CR_IMAGE_STORAGE, "display", flip)
    ds.Modality = "CR"
    del ds.ConversionType  # not part of the CR IOD
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.SeriesDescription = "AP Spine"
    ds.ViewPosition = ""
    grey = flip_array(display_image(case), flip)
    rows, cols = grey.shape
    photometric = case.params.display_photometric
    if photometric == "MONOCHROME1":
        grey = 255 - grey  # the strips still *display* white
    dy, dx = case.pixel_spacing_mm
    # ExposedArea is US (whole mm): [width, length] of the stored matrix (docs/domain.md §6)
    ds.ExposedArea = [round(cols * dx), round(rows * dy)]
    ds.PhotometricInterpretation = photometric
    set_stored_pixels(ds, np.asarray(grey, dtype=np.uint8))
    file_meta(ds)
    return ds
