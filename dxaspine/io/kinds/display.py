"""Kind ``display``: a vendor's display export of a PA lumbar spine (docs/domain.md §6).

Any grayscale CR, DX or Secondary Capture image with Modality BMD, CR, DX or OT that plausibly
is a PA lumbar spine: typically 8-bit, no PixelSpacing, ExposedArea, bone bright, ragged
saturated strips outside the scan field.  Its grey values have no physical unit, so it gives
geometry and a relative density index, never BMD (Contract 1).  Loading makes bone bright
(MONOCHROME1 inverted), masks the saturated strips out of the field, and inpaints burned-in
vendor graphics (:mod:`dxaspine.io.annotations`).

Being the most permissive kind, it is asked last and raises the detailed "not a DXA lumbar
spine" errors for everything no other kind took.
"""

from __future__ import annotations

import logging
import re

from pydicom.dataset import Dataset

from dxaspine.errors import NotDxaError, describe
from dxaspine.io.classify import (
    DISPLAY_MODALITIES,
    DISPLAY_SOP_CLASSES,
    Recognition,
    check_pixels,
    frame_count,
    header_text,
)
from dxaspine.io.kinds import Kind
from dxaspine.io.pixels import decode_frames, stored_value_range, to_bone_bright
from dxaspine.io.private_block import read_private_block
from dxaspine.io.safe_values import modality_term, uid_text

logger = logging.getLogger(__name__)

NAME = "display"

# Body-part vocabulary.  Text is upper-cased and reduced to letters/digits/spaces first.  Each
# name carries its article: the message reads "... is a forearm scan" (issue 18: "is a another").
_NOT_LUMBAR = [
    (re.compile(r"\bHIPS?\b|FEMUR|FEMORAL|NECK OF FEM|TROCHANTER"), "a hip/femur scan"),
    (re.compile(r"FOREARM|RADIUS|ULNA|WRIST|\bARM\b"), "a forearm scan"),
    (re.compile(r"WHOLE ?BODY|TOTAL ?BODY|\bTBODY\b|\bWB\b|TOTALBODY"), "a whole-body scan"),
    (
        re.compile(r"LATERAL|\bLAT\b|\bLVA\b|\bIVA\b|\bVFA\b"),
        "a lateral spine / vertebral fracture assessment scan",
    ),
    (
        re.compile(r"\bC ?SPINE\b|CERVICAL|\bT ?SPINE\b|THORACIC\b"),
        "a cervical or thoracic spine scan",
    ),
    (
        re.compile(
            r"\b(KNEE|HANDS?|FOOT|FEET|HEEL|CALCANEUS|SKULL|HEAD|CHEST|BREAST|ABDOMEN|PELVIS)\b"
        ),
        "a scan of another body part",
    ),
]
_LUMBAR = re.compile(
    r"\bL ?SPINE\b|LSPINE|LSSPINE|TLSPINE|LUMBAR|\bSPINE\b|\bL1 ?L4\b|\bAP ?SPINE|\bPA ?SPINE"
)


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^A-Z0-9]+", " ", text.upper()).split())


def _body_part(ds: Dataset, source: object) -> str:
    """How a display image was recognised as a lumbar spine, or NotDxaError."""
    fields = [(k, header_text(ds, k)) for k in ("ProtocolName", "BodyPartExamined")]
    named = [(k, v) for k, v in fields if v]
    if not named:
        # Blank: SeriesDescription may still exclude or name the site.
        desc = header_text(ds, "SeriesDescription")
        named = [("SeriesDescription", desc)] if desc else []
        if not named:
            return "display: ProtocolName and BodyPartExamined blank; content confirmation pending"
    for keyword, value in named:
        norm = _normalise(value)
        for pattern, what in _NOT_LUMBAR:
            if pattern.search(norm):
                raise NotDxaError(
                    describe(
                        source,
                        f"{keyword} says this is {what}, not a PA lumbar spine",
                        "dxaspine analyses PA lumbar spine DXA only",
                    )
                )
    for keyword, value in named:
        if _LUMBAR.search(_normalise(value)):
            return f"display: {keyword} names a lumbar spine"  # not quoted: may hold names
    if named[0][0] == "SeriesDescription":
        return "display: ProtocolName and BodyPartExamined blank; content confirmation pending"
    shown = " and ".join(k for k, _ in named)  # the values may hold names: not quoted
    raise NotDxaError(
        describe(
            source,
            f"{shown} {'do' if len(named) > 1 else 'does'} not name a lumbar spine",
            "pass a PA lumbar spine image (or blank these fields to let content decide)",
        )
    )


def recognise(ds: Dataset, pixel, source: object = None) -> Recognition | None:
    """A display export of a PA lumbar spine, or the NotDxaError saying why it is not one."""
    block = read_private_block(ds)
    if block is not None and block.content:
        return None  # an interchange-profile file is never a display export
    modality = header_text(ds, "Modality").upper()
    sop_class = header_text(ds, "SOPClassUID")
    if modality not in DISPLAY_MODALITIES:
        raise NotDxaError(
            describe(
                source,
                f"Modality {modality_term(modality)} is not DXA",
                "pass a DXA image (Modality BMD, CR, DX or OT)",
            )
        )
    family = DISPLAY_SOP_CLASSES.get(sop_class)
    if family is None:
        raise NotDxaError(
            describe(
                source,
                f"SOP class {uid_text(sop_class)} is not a "
                "general CR, DX or Secondary Capture image",
                "export the DXA scan as a CR, DX or Secondary Capture image",
            )
        )
    check_pixels(ds, pixel, source)
    if frame_count(ds) != 1:
        raise NotDxaError(
            describe(
                source,
                f"display image with {frame_count(ds)} frames",
                "export a single-frame image",
            )
        )
    how = _body_part(ds, source)
    return Recognition(NAME, f"{how} ({family}, Modality {modality})")


def build(ds: Dataset, recognition: Recognition, name: str | None) -> dict:
    """Bone-bright grey frame ``display``, the scan field, burned-in graphics removed."""
    # scipy (graphics removal) is imported here, not at module level: classifying a header
    # (peek, batch discovery) must stay cheap
    from dxaspine.io.annotations import remove_burned_in_graphics
    from dxaspine.io.display_field import display_field_mask

    recognised_by = recognition.recognised_by
    image, inverted = to_bone_bright(decode_frames(ds, 1, name)[0], ds)
    if inverted:
        recognised_by += "; MONOCHROME1 inverted to bone-bright"
    white = stored_value_range(ds)[1]
    mask = display_field_mask(image, white)
    removal = remove_burned_in_graphics(image, mask, white)
    if removal.removed_px:
        share = removal.removed_px / max(int(mask.sum()), 1)
        note = f"burned-in graphics removed: {removal.removed_px} px ({share:.2%} of the field)"
        if removal.untrusted_px:
            note += f", {removal.untrusted_px} px of them outside the field (too wide to inpaint)"
        logger.info("%s: %s", name, note)
        recognised_by = f"{recognised_by}; {note}"
        image, mask = removal.image, removal.field_mask
    return {"frames": {"display": image}, "field_mask": mask, "recognised_by": recognised_by}


KIND = Kind(
    name=NAME,
    content="display_grey",
    quantitative=False,
    frames=("display",),
    picture_frame="display",
    recognise=recognise,
    build=build,
    description="a vendor display export (8/16-bit CR/DX/SC/OT): geometry only, no BMD",
)
