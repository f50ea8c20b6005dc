"""Pathology targets through the full pipeline: write_case -> analyze.

Targets: on phantoms with osteophytes, sclerosis, a fracture or facet arthrosis at one level,
the lesioned level is flagged in >= 90 % of cases and <= 5 % of normal levels are flagged.
"Flagged" is strict: the level carries *any* flag in the assessment (image evidence, the
inter-level deviation rule, the ISCD adjacent-T rule, labelling QC); a lesioned level that
the pipeline labels wrongly counts as missed.

Cases: each lesion kind x L1-L4 x {Prodigy, iDXA} at severity 0.8 (the target) and 0.5
(how detection falls with severity), on the varied anatomy of the "standard" suite (BMD
0.7-1.3 g/cm2, scoliosis to 10 mm, rotation, tilt, 12-35 cm tissue).  The suite seeds here
(7 and 8) differ from those the QC thresholds were calibrated on (41, 43-45, see
dxaspine/evidence/lesions.py), so these are held-out figures.
"""

from __future__ import annotations

import collections

import pytest

from dxaspine.phantom import SUITES, Lesion, generate_case, write_case
from dxaspine.pipeline import analyze

LUMBAR = ("L1", "L2", "L3", "L4")
KINDS = ("osteophyte", "sclerosis", "fracture", "facet_arthrosis")
SEVERITIES = (0.8, 0.5)
SCANNERS = ("prodigy", "idxa")
# The lesion kinds' own image-evidence codes (dxaspine/evidence/lesions.py).
OWN_CODE = {
    "osteophyte": "osteophyte_suspected",
    "sclerosis": "sclerosis_suspected",
    "fracture": "fracture_suspected",
    "facet_arthrosis": "facet_arthrosis_suspected",
}


def _analyse(params, tmp_path):
    case = generate_case(params)
    path = write_case(case, tmp_path / params.case_name, kinds=("dual_energy",))["dual_energy"]
    return {lv.label: lv for lv in analyze(str(path)).assessment.levels}


@pytest.fixture(scope="module")
def pathology(tmp_path_factory):
    """{(kind, severity): [(lesion level flagged, own code present)]} and normal levels."""
    tmp = tmp_path_factory.mktemp("patho")
    n_cases = len(KINDS) * len(SEVERITIES) * len(LUMBAR) * len(SCANNERS)
    bases = list(SUITES["standard"](seed=7, count=n_cases))
    found = collections.defaultdict(list)
    normal = []  # (case, level, codes) of every non-lesioned L1-L4 level
    i = 0
    for kind in KINDS:
        for severity in SEVERITIES:
            for level in LUMBAR:
                for scanner in SCANNERS:
                    params = bases[i].replace(
                        scanner=scanner,
                        lesions=(Lesion(kind, level, severity),),
                        case=f"patho_{kind}_{severity}_{level}_{scanner}",
                    )
                    i += 1
                    levels = _analyse(params, tmp)
                    codes = {k: [f.code for f in v.flags] for k, v in levels.items()}
                    own = codes.get(level, [])
                    found[(kind, severity)].append((bool(own), OWN_CODE[kind] in own))
                    normal += [
                        (params.case, k, codes[k]) for k in LUMBAR if k != level and k in codes
                    ]
    return found, normal


def _table(found) -> str:
    return "; ".join(
        f"{k} {s}: {sum(f for f, _ in v)}/{len(v)} flagged, {sum(o for _, o in v)} own code"
        for (k, s), v in sorted(found.items())
    )


@pytest.mark.slow
def test_lesioned_level_flagged_at_severity_08(pathology):
    found, _ = pathology
    hits = [f for k in KINDS for f, _ in found[(k, 0.8)]]
    # Target: >= 90 % over all four kinds (32 cases: at most 3 misses).
    assert sum(hits) / len(hits) >= 0.9, _table(found)
    # No kind may be left to the others: each kind >= 6/8 (75 %), so one kind cannot fail
    # outright while the total still passes.
    for k in KINDS:
        assert sum(f for f, _ in found[(k, 0.8)]) >= 6, _table(found)


@pytest.mark.slow
def test_detection_falls_gracefully_at_severity_05(pathology):
    found, _ = pathology
    hits = [f for k in KINDS for f, _ in found[(k, 0.5)]]
    # Severity 0.5 halves most lesions' extra mineral (lesions.py), bringing sclerosis and
    # facet arthrosis near their thresholds (calibration: 1.10-1.27 vs 1.10, 1.40-2.1 vs
    # 1.45): no 90 % promise, but most must still be caught (>= 75 %, 24 of 32).
    assert sum(hits) / len(hits) >= 0.75, _table(found)


@pytest.mark.slow
def test_lesion_flagged_by_its_own_image_evidence(pathology):
    found, _ = pathology
    # The flag must come from the right evidence, not by accident from another rule: at
    # severity 0.8 each kind's own code is on the lesioned level in >= 7 of 8 cases.
    for k in KINDS:
        assert sum(o for _, o in found[(k, 0.8)]) >= 7, _table(found)


@pytest.mark.slow
def test_normal_levels_of_pathology_cases_rarely_flagged(pathology):
    _, normal = pathology
    flagged = [x for x in normal if x[2]]
    # Target: <= 5 % of normal levels flagged (192 levels: at most 9).
    assert len(flagged) / len(normal) <= 0.05, flagged


@pytest.mark.slow
def test_standard_cases_normal_levels_rarely_flagged(tmp_path):
    # Target on spines without lesions: <= 5 % of levels flagged.  30 standard cases
    # (all three scanner geometries) and 6 "hard" anatomies with their lesion removed
    # (scoliosis to 25 mm, rotation to 5 deg, gas, thick tissue): 144 levels, at most 7.
    cases = list(SUITES["standard"](seed=8, count=30))
    cases += [p.replace(lesions=()) for p in SUITES["hard"](seed=8, count=6)]
    levels = flagged = 0
    details = []
    for params in cases:
        assessed = _analyse(params, tmp_path)
        for k in LUMBAR:
            if k in assessed:
                levels += 1
                if assessed[k].flags:
                    flagged += 1
                    details.append((params.case, k, [f.code for f in assessed[k].flags]))
    assert levels >= 140  # L1-L4 found in (nearly) every case
    assert flagged / levels <= 0.05, details
