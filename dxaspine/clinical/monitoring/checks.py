"""Checks before visits are compared: one patient, dates in order, same scanner and analysis.

Each returns the warnings it has for the output; what cannot be compared at all is an
:class:`~dxaspine.errors.InputError` naming the visit's file (never the patient's ID, which
travels only as a hash, :func:`dxaspine.clinical.monitoring.visits.hash_patient_id`).
"""

from __future__ import annotations

from collections.abc import Sequence

from dxaspine.clinical.monitoring.visits import ANALYSIS_KEYS, Visit
from dxaspine.errors import InputError, describe

__all__ = ["check_dates", "check_patient", "differences"]


def check_patient(visits: Sequence[Visit], force: bool) -> list[str]:
    warnings = []
    hashes = [v.patient_id_hash for v in visits]
    sexes = {v.sex for v in visits if v.sex}
    if all(hashes) and len(set(hashes)) > 1:
        other = next(v for v in visits[1:] if v.patient_id_hash != hashes[0])
        problem = f"PatientID differs from the baseline's ({visits[0].source})"
        if not force:
            raise InputError(
                describe(
                    other.source,
                    problem,
                    "compare visits of one patient (--force if the IDs were reassigned)",
                )
            )
        warnings.append(f"{other.source}: {problem}; compared anyway (--force)")
    if len(sexes) > 1:
        problem = "patient sex differs between visits"
        if not force:
            raise InputError(
                describe(
                    visits[-1].source,
                    problem,
                    "compare visits of one patient (--force to override)",
                )
            )
        warnings.append(f"{problem}; compared anyway (--force)")
    if not all(hashes):
        missing = next(v for v in visits if not v.patient_id_hash)
        problem = "no PatientID, so the visits cannot be confirmed to be one patient"
        if not force:
            raise InputError(
                describe(
                    missing.source, problem, "pass --force (force=True) if they are one patient"
                )
            )
        warnings.append(
            f"patient identity not verified ({missing.source} has no PatientID): "
            "compared on the user's word (--force)"
        )
    return warnings


def check_dates(visits: Sequence[Visit]) -> list[str]:
    warnings = []
    for prev, cur in zip(visits, visits[1:], strict=False):
        if prev.date and cur.date and cur.date < prev.date:
            raise InputError(
                describe(
                    cur.source,
                    f"study date is before that of {prev.source}",
                    "give the visits oldest first (baseline first)",
                )
            )
        if prev.date and cur.date and cur.date == prev.date:
            warnings.append(
                f"{cur.source} has the same study date as {prev.source}: no rate per year"
            )
    if any(v.date is None for v in visits):
        warnings.append(
            "some visits have no study date: order taken as given, no rates per year "
            "for them (give --dates)"
        )
    return warnings


def differences(visits: Sequence[Visit]) -> list[str]:
    """Warnings for anything that can make a change non-biological."""
    out = []

    def differ(label: str, values: list, consequence: str) -> None:
        shown = [v if v not in (None, "") else "not recorded" for v in values]
        if len(set(map(str, shown))) > 1:
            out.append(
                f"{label} differs between visits ({' / '.join(map(str, shown))}): {consequence}"
            )

    differ(
        "scanner make",
        [v.manufacturer for v in visits],
        "BMD differs systematically between makes; a change may not be biological",
    )
    differ("scanner model", [v.model for v in visits], "a change may not be biological")
    differ("scanner software", [v.software for v in visits], "a change may not be biological")
    differ("input kind", [v.kind for v in visits], "a change may not be biological")
    keys = sorted({k for v in visits for k in v.analysis} | set(ANALYSIS_KEYS))
    for key in keys:
        values = [v.analysis.get(key) for v in visits]
        if any(x is not None for x in values):
            differ(f"analysis {key}", values, "a change may not be biological")
    return out
