"""Kinds ``ge_sr``, ``ge_xml``, ``hologic_xml``, ``tid1500_sr``: a vendor's own results.

GE enCORE Enhanced SR and STR XML, Hologic APEX XML and TID 1500 measurement reports (ours
included) carry the per-level numbers beside the image, in the same study
(docs/vendor_results.md).  They are recognised from the header alone
(:mod:`dxaspine.io.vendor.detect`) and read with :func:`dxaspine.io.vendor.read_vendor_results`;
they hold no image, so ``load`` refuses them and ``analyze`` pairs them with their study's image
(``dxaspine.analyze(image, vendor=[...])``).
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from dxaspine.io.classify import Recognition
from dxaspine.io.kinds import Kind
from dxaspine.io.vendor.detect import HEADER_TAGS, recognise_with_reason

_DESCRIPTIONS = {
    "ge_sr": "GE Lunar enCORE Enhanced SR (DXA Report)",
    "ge_xml": "GE enCORE results XML in ImageComments",
    "hologic_xml": "Hologic APEX results XML",
    "tid1500_sr": "TID 1500 measurement report (dxaspine's own SR included)",
}


def _recogniser(name: str):
    def recognise(ds: Dataset, pixel=None, source: object = None) -> Recognition | None:
        kind, how = recognise_with_reason(ds)
        return Recognition(name, how) if kind == name else None

    return recognise


def _not_an_image(ds: Dataset, recognition: Recognition, name: str | None) -> dict:
    from dxaspine.errors import InputError, describe

    raise InputError(
        describe(
            name,
            f"a vendor results object ({_DESCRIPTIONS[recognition.kind]}), not an image",
            "analyse it with its study's image (dxaspine analyze IMAGE RESULTS) or read it "
            "with dxaspine.io.vendor.read_vendor_results",
        )
    )


def _read(source, name: str):
    from dxaspine.io.vendor.reader import read_vendor_results  # the parsers: only when reading

    return read_vendor_results(source, kind=name)


KINDS = tuple(
    Kind(
        name=name,
        content="results",
        quantitative=True,
        frames=(),
        picture_frame=None,
        recognise=_recogniser(name),
        build=_not_an_image,
        header_tags=tuple(HEADER_TAGS),
        description=description,
        role="results",
        read=lambda source, _name=name: _read(source, _name),
    )
    for name, description in _DESCRIPTIONS.items()
)
