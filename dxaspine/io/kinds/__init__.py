"""The input-kinds registry: each kind of DXA input is one module that registers a :class:`Kind`.

A kind recognises a dataset from its header alone (so ``peek`` and batch discovery stay
header-only), builds what the next stage needs from the decoded pixels, and says what its frames
mean, so that every later stage asks the kind instead of testing its name:

- ``load`` calls :attr:`Kind.build`;
- ``peek`` and discovery call :func:`dxaspine.io.classify.classify`, which asks every kind in
  registration order;
- ``decompose`` dispatches on :attr:`Kind.content` (counts, areal BMD, display grey);
- the outputs ask :attr:`Kind.quantitative` and :attr:`Kind.picture_frame`.

Adding a kind is one module here plus its :func:`register` call in :func:`_register_builtin`,
and its name in the result schema's ``input.kind`` enum (``dxaspine/report/result.schema.json``;
a test checks they agree).  docs/architecture.md, "Input kinds", walks through it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Kind", "KINDS", "register", "get_kind", "kind_names"]

# What a kind's frames hold, which is what decompose needs to know ("results": a vendor's
# numbers, no image at all).
Content = Literal["counts", "areal_bmd", "display_grey", "results"]


@dataclass(frozen=True)
class Kind:
    """One kind of DXA input.

    Attributes
    ----------
    name : str
        ``Scan.kind`` and the result's ``input.kind``.
    content : {"counts", "areal_bmd", "display_grey"}
        What the frames hold, which is all ``decompose`` asks: dual-energy detected counts
        (frames ``low`` and ``high``), areal BMD in g/cm2 (frame ``bmd``), or display grey
        values, bone bright, no physical unit (frame ``display``).
    quantitative : bool
        Whether BMD in g/cm2 can be measured from it (Contract 1: never from display grey).
    frames : tuple of str
        The keys of ``Scan.frames``.
    picture_frame : str or None
        The frame pictures show (None: the density map is shown).
    recognise : callable
        ``recognise(ds, pixel, source) -> Recognition | None`` on a header holding
        :data:`dxaspine.io.classify.HEADER_TAGS`: None when the dataset is not this kind;
        raises the ``DxaError`` ``load`` would raise when it is this kind but unusable.
    build : callable
        ``build(ds, recognition, source) -> dict`` after the header checks: decodes the pixels
        and returns ``frames`` (head-up is applied by ``load``), ``field_mask`` and any further
        ``Scan`` fields (e.g. energies), optionally an updated ``recognised_by``.
    header_tags : tuple of int
        Further tags a header-only read must include for :attr:`recognise`.
    description : str
        One line for the docs and ``--help``.
    role : {"image", "results"}
        ``"results"`` kinds are a vendor's own numbers beside the image in the same study
        (GE and Hologic SR/XML, TID 1500): asked before the image kinds, they need no pixel
        data, and they are read with :attr:`read` instead of :attr:`build`.
    read : callable or None
        ``read(path_or_dataset) -> VendorResults`` for ``"results"`` kinds.
    """

    name: str
    content: Content
    quantitative: bool
    frames: tuple[str, ...]
    picture_frame: str | None
    recognise: Callable[..., Any]
    build: Callable[..., dict]
    header_tags: tuple[int, ...] = field(default=())
    description: str = ""
    role: Literal["image", "results"] = "image"
    read: Callable[..., Any] | None = None


KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    """Add ``kind`` to the registry; kinds are asked in registration order."""
    KINDS[kind.name] = kind
    return kind


def get_kind(name: str) -> Kind:
    """The registered kind called ``name`` (KeyError if none)."""
    _register_builtin()
    return KINDS[name]


def kind_names() -> tuple[str, ...]:
    _register_builtin()
    return tuple(KINDS)


def registered() -> tuple[Kind, ...]:
    """Every kind, in the order :func:`dxaspine.io.classify.classify` asks them."""
    _register_builtin()
    return tuple(KINDS.values())


_BUILTIN_DONE = False


def _register_builtin() -> None:
    # Vendor results first (they need no pixels and may sit in image SOP classes), then the
    # interchange-profile kinds (recognised by their private block), then display exports,
    # which accept any plausible spine radiograph and so must be asked last.
    global _BUILTIN_DONE
    if _BUILTIN_DONE:
        return
    _BUILTIN_DONE = True
    from dxaspine.io.kinds import bmd_map, display, dual_energy, vendor_results

    for kind in (*vendor_results.KINDS, dual_energy.KIND, bmd_map.KIND, display.KIND):
        register(kind)
