"""``python -m dxaspine``: the same program as the ``dxaspine`` command, from any folder."""

import importlib
import os
import sys

_package = sys.modules.get("dxaspine")
if _package is not None and getattr(_package, "__file__", None) is None:
    # The current folder holds a directory named "dxaspine" (typically the git clone), which
    # Python imported as a namespace package in place of the installed one.  Put the real
    # package's parent first and import it again.
    for _name in [m for m in sys.modules if m == "dxaspine" or m.startswith("dxaspine.")]:
        del sys.modules[_name]
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    importlib.import_module("dxaspine")

from dxaspine.cli import main  # noqa: E402

raise SystemExit(main())
