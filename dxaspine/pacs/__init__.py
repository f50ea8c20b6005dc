"""The PACS node: receive DXA studies over DICOM (or from Orthanc), analyse, send results back.

Modules, one concept each (docs/pacs.md):

- :mod:`~dxaspine.pacs.config`: the TOML configuration (``NodeConfig``, ``load_config``);
- :mod:`~dxaspine.pacs.uids`: UID validation (nothing else from the network reaches a path);
- :mod:`~dxaspine.pacs.inbox`: atomic instance store by study and SOP instance UID;
- :mod:`~dxaspine.pacs.instance_check`: what a received instance must satisfy;
- :mod:`~dxaspine.pacs.stability`: study quiet time after association release;
- :mod:`~dxaspine.pacs.queue`: the persistent queue of study generations;
- :mod:`~dxaspine.pacs.scp`: the Storage SCP (pynetdicom);
- :mod:`~dxaspine.pacs.analysis`: the one adapter to the pipeline and the SR/SC writers;
- :mod:`~dxaspine.pacs.forward`: C-STORE SCU / Orthanc REST forwarding with retries;
- :mod:`~dxaspine.pacs.orthanc_watch`: pull mode on Orthanc's ``/changes``;
- :mod:`~dxaspine.pacs.logs`: plain or JSON-lines logs without patient identifiers;
- :mod:`~dxaspine.pacs.node`: the wiring (receiver, worker pool, forwarders).

Needs the ``pacs`` extra (pynetdicom, highdicom).  Submodules are imported on use, so
``import dxaspine.pacs`` costs nothing.
"""

from __future__ import annotations

__all__ = ["NodeConfig", "load_config", "Node"]


def __getattr__(name: str):
    if name in ("NodeConfig", "load_config"):
        from dxaspine.pacs import config

        return getattr(config, name)
    if name == "Node":
        from dxaspine.pacs.node import Node

        return Node
    raise AttributeError(f"module 'dxaspine.pacs' has no attribute {name!r}")
