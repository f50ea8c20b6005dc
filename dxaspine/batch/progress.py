"""Progress bar: files/s, ETA and counts of done, failed and skipped (tqdm when installed).

The bar counts **files**, as its total does (``count_inputs``): a dual-energy pair is one scan
but two files, so its result advances the bar by two (``update(kind, files=2)``).  Counting it
once left the bar at 90 % on an archive of paired halves (issue 18).  The done/failed/skipped
counts stay per scan, as in the result tables.
"""

from __future__ import annotations

import logging
import sys
import time

logger = logging.getLogger(__name__)


class Progress:
    def __init__(self, total: int, quiet: bool = False, already: int = 0):
        self.counts = {"result": 0, "error": 0, "skipped": 0}
        self.quiet = quiet
        self._bar = None
        self._start = time.monotonic()
        self._last_log = 0.0
        self.total = max(0, total - already)
        self.files_done = 0
        if quiet:
            return
        try:
            from tqdm import tqdm
        except ImportError:
            logger.info(
                "tqdm not installed (pip install 'dxaspine[progress]'): plain progress lines"
            )
            return
        self._bar = tqdm(
            total=self.total, unit="file", file=sys.stderr, dynamic_ncols=True, smoothing=0.05
        )

    def update(self, kind: str, files: int = 1) -> None:
        """Count one finished scan of ``kind`` that was made of ``files`` input files."""
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.files_done += files
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.update(files)
            self._bar.set_postfix(
                done=self.counts["result"],
                failed=self.counts["error"],
                skipped=self.counts["skipped"],
                refresh=False,
            )
            return
        now = time.monotonic()
        if now - self._last_log >= 5.0:
            self._last_log = now
            n = self.files_done
            rate = n / max(now - self._start, 1e-9)
            eta = (self.total - n) / rate if rate > 0 else float("nan")
            print(
                f"{n}/{self.total} files  {rate:.1f} files/s  ETA {eta:.0f} s  done "
                f"{self.counts['result']} failed {self.counts['error']} skipped "
                f"{self.counts['skipped']}",
                file=sys.stderr,
            )

    def forget(self, files: int) -> None:
        """Take ``files`` off the total: inputs a resumed run will not see again.

        ``already`` counts committed scans; a committed pair holds one more file than that.
        """
        self.total = max(0, self.total - files)
        if self._bar is not None:
            self._bar.total = self.total
            self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
