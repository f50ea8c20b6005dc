"""Rules that make disc lines and labels hold on real spines (docs/segmentation.md), on
constructed cases whose right answer is known by construction:

- the level-height check against the neighbours (``level_height_inconsistent``, Genant's
  20 % height loss) and its fracture exemption (a crushed body is denser);
- the choice between a deep dip inside a body and a shallow, obliquely seen disc that keeps
  the spine's period;
- the published sex prior for a crest in the middle third of a body (Chakraverty 2008);
- the confident-and-wrong count the benchmark and the accuracy tests report.
"""

from __future__ import annotations

import numpy as np
import pytest

from dxaspine.bench.metrics import CONFIDENT, LevelLabel, confident_and_wrong
from dxaspine.segment.disc_choice import extend_below, prefer_regular_spacing
from dxaspine.segment.labelling import CONF_CREST_PRIOR, assign_labels
from dxaspine.segment.level_heights import HEIGHT_SHORTFALL, height_flags

LABELS = ("T12", "L1", "L2", "L3", "L4")


def _lines(heights_mm):
    return np.concatenate([[0.0], np.cumsum(heights_mm)])


# ---------------------------------------------------------------- level heights
def test_regular_spine_raises_no_height_flag():
    # heights growing caudally by 1-2 mm a level (docs/domain.md §4)
    assert height_flags(_lines([33, 34, 35, 36, 37]), np.ones(5), LABELS) == []


def test_short_level_between_normal_ones_is_flagged():
    # a line 12 mm inside L2: L2 is 23 mm against 35 and 36 (66 %, beyond 20 % short)
    flags = height_flags(_lines([34, 35, 23, 36, 37]), np.ones(5), LABELS)
    assert [(i, f.code, f.level) for i, f in flags] == [(2, "level_height_inconsistent", "L2")]
    assert flags[0][1].evidence["height_mm"] == 23.0


def test_just_under_the_shortfall_is_not_flagged():
    # 19 % shorter than both neighbours: inside normal variation (Genant grade 1 starts at 20 %)
    h = 36.0 * (1 - HEIGHT_SHORTFALL + 0.01)
    assert height_flags(_lines([36, 36, h, 36, 36]), np.ones(5), LABELS) == []


def test_short_only_against_one_neighbour_is_not_flagged():
    # 25 mm beside 40 above and 28 below: not shorter than *both* neighbours by 20 %
    assert height_flags(_lines([36, 40, 25, 28, 36]), np.ones(5), LABELS) == []


def test_crushed_and_denser_level_is_left_to_the_fracture_evidence():
    # 30 % height loss with the body 15 % denser than its neighbours: a compression fracture
    # (evidence stage, fracture_suspected), not a misplaced line
    cores = np.array([1.0, 1.0, 1.15, 1.0, 1.0])
    assert height_flags(_lines([34, 35, 24.5, 36, 37]), cores, LABELS) == []


def test_end_level_is_judged_against_its_one_neighbour():
    # the last level (L5 cut by a line 10 mm inside it) has only L4 beside it
    labels = ("L1", "L2", "L3", "L4", "L5")
    flags = height_flags(_lines([34, 35, 36, 37, 18]), np.ones(5), labels)
    assert [f.level for _, f in flags] == ["L5"]


# ---------------------------------------------------------------- disc choice
def _profile_minima(rows_depths, n=260):
    depth = np.zeros(n)
    for r, d in rows_depths:
        depth[r] = d
    return depth


def test_shallow_disc_on_the_period_beats_a_deeper_dip_inside_the_body():
    # discs every 35 rows; the last disc (row 175) is shallow (0.22, seen obliquely) and a dip
    # inside L4 at row 162, by the crest tops, is deeper (0.30): the deeper-first rule keeps
    # the dip and makes L4 27 rows (0.77 period) tall
    depth = _profile_minima([(35, 0.6), (70, 0.7), (105, 0.8), (140, 0.6), (162, 0.3), (175, 0.22)])
    kept = [35, 70, 105, 140, 162]
    assert prefer_regular_spacing(kept, [35, 70, 105, 140, 162, 175], depth) == [
        35, 70, 105, 140, 175,
    ]  # fmt: skip


def test_regular_spine_keeps_its_deepest_minima():
    depth = _profile_minima([(35, 0.6), (70, 0.7), (80, 0.5), (105, 0.8), (140, 0.6)])
    kept = [35, 70, 105, 140]
    assert prefer_regular_spacing(kept, [35, 70, 80, 105, 140], depth) == kept


def test_faint_rival_does_not_replace_a_disc():
    # a rival with less than half the depth is noise, whatever the spacing
    depth = _profile_minima([(35, 0.6), (70, 0.7), (105, 0.8), (140, 0.6), (162, 0.4), (175, 0.1)])
    kept = [35, 70, 105, 140, 162]
    assert prefer_regular_spacing(kept, [35, 70, 105, 140, 162, 175], depth) == kept


def test_shallow_lowest_disc_a_period_below_is_kept():
    # CT family seed 3 case 10 (docs/segmentation.md §1): with the noise-guarded baseline the
    # L4/L5 dip (row 160, period ~35) is 0.15 deep, under MIN_DEPTH; dips inside L4 at 137
    # and 147 (0.44 and 0.73 period below L3/L4) are deeper but too short a level
    depth = _profile_minima([(18, 0.4), (51, 0.5), (86, 0.64), (122, 0.49), (137, 0.2),
                             (147, 0.18), (160, 0.15), (181, 0.12)])  # fmt: skip
    kept = [18, 51, 86, 122]
    assert extend_below(kept, [18, 51, 86, 122, 137, 147, 160, 181], depth) == [*kept, 160]


def test_dip_inside_the_lowest_body_gives_way_to_the_disc_a_period_below():
    # CT family seed 0 case 10, display input with the noise-guarded baseline: a 0.23 dip
    # 0.46 period below L3/L4 (inside L4) is kept, the L4/L5 dip a period below is 0.2 deep
    depth = _profile_minima([(14, 0.43), (48, 0.53), (82, 0.68), (118, 0.51), (134, 0.23),
                             (158, 0.17)])  # fmt: skip
    kept = [14, 48, 82, 118, 134]
    assert extend_below(kept, [14, 48, 82, 118, 134, 158], depth) == [14, 48, 82, 118, 158]
    depth[158] = 0.1  # under half the dip it would replace: kept as it was
    assert extend_below(kept, [14, 48, 82, 118, 134, 158], depth) == kept


def test_disc_below_a_dip_inside_the_body_is_followed():
    # CT family seed 0 case 4 with the noise-guarded baseline: a dip inside L4 (132) and the
    # L4/L5 disc (154, 1.1 periods below L3/L4) are both kept; the disc below (175) is only
    # 0.6 period further: nothing is added or dropped
    depth = _profile_minima([(12, 0.37), (46, 0.48), (80, 0.69), (116, 0.55), (132, 0.25),
                             (154, 0.23), (175, 0.16)])  # fmt: skip
    kept = [12, 46, 80, 116, 132, 154]
    assert extend_below(kept, [*kept, 175], depth) == kept


def test_nothing_is_added_off_the_period_or_without_a_period():
    depth = _profile_minima([(18, 0.4), (51, 0.5), (86, 0.64), (122, 0.49), (137, 0.2),
                             (147, 0.18), (175, 0.15), (121, 0.3)])  # fmt: skip
    kept = [18, 51, 86, 122]
    assert extend_below(kept, [*kept, 137, 147], depth) == kept  # too short a level
    assert extend_below(kept, [*kept, 175], depth) == kept  # 1.5 periods: a missed disc
    assert extend_below([51, 86], [51, 86, 121], depth) == [51, 86]  # one spacing: no period


# ---------------------------------------------------------------- crest sex prior
DISCS = np.array([10.0, 47.0, 84.0, 121.0, 158.0, 195.0])  # T11/T12 .. L4/L5, period 37


@pytest.mark.parametrize(
    "sex, crest_row, labels",
    [
        # crest 0.45 period above L4/L5 (middle third of L4): men's usual level
        ("M", 195.0 - 0.45 * 37, ("T12", "L1", "L2", "L3", "L4")),
        # crest 0.45 period below the disc at 195 (in the body under it): women's usual level,
        # so that disc is L4/L5
        ("F", 195.0 + 0.45 * 37, ("T12", "L1", "L2", "L3", "L4")),
    ],
)
def test_mid_body_crest_follows_the_published_sex_prior(sex, crest_row, labels):
    out = assign_labels(DISCS, 37.0, crest_row=crest_row, lowest_rib_row=None, sex=sex)
    assert out.labels == labels
    assert max(out.confidence) <= CONF_CREST_PRIOR < 0.5  # a prior, not the image: review
    assert "crest_ambiguous" in [f.code for f in out.flags]
    assert out.evidence["crest_sex_prior"]


def test_mid_body_crest_without_sex_stays_unanchored():
    out = assign_labels(DISCS, 37.0, crest_row=195.0 - 0.45 * 37, lowest_rib_row=None)
    assert "crest_ambiguous" in [f.code for f in out.flags]
    assert max(out.confidence) < 0.5
    assert not out.evidence["crest_sex_prior"]


def test_crest_at_the_disc_ignores_the_sex():
    for sex in (None, "M", "F"):
        out = assign_labels(DISCS, 37.0, crest_row=197.0, lowest_rib_row=30.0, sex=sex)
        assert out.labels == ("T12", "L1", "L2", "L3", "L4") and not out.flags


# ---------------------------------------------------------------- confident and wrong
def test_confident_and_wrong_counts_only_confident_levels_with_truth():
    levels = [
        LevelLabel("L1", "L1", 0.95, False),  # confident, right
        LevelLabel("L2", "L3", 0.95, False),  # confident, wrong
        LevelLabel("L3", "L4", 0.45, True),  # wrong but not confident
        LevelLabel("L4", None, 0.95, False),  # no truth under it: neither
    ]
    assert confident_and_wrong(levels) == (2, 1)
    assert confident_and_wrong(levels, threshold=0.99) == (0, 0)
    assert CONFIDENT == 0.9


def test_ct_baseline_reports_confident_and_wrong_levels():
    # the CT-family tool (benchmarks/ct_family_baseline.py) reports the same figure per kind
    from tests._benchmarks import benchmark_module

    tool = benchmark_module("ct_family_baseline")
    row = {
        "case": "ct_000", "kind": "dual_energy", "labels_right": False, "min_confidence": 0.95,
        "ours": {"L1": "L1", "L2": "L1"}, "level_confidence": {"L1": 0.95, "L2": 0.95},
        "line_errors_mm": {"L1/L2": 1.0}, "line_row_errors_mm": {"L1/L2": 1.0},
        "nearest_line_errors_mm": {"L1/L2": 1.0}, "assessed_levels": ["L1", "L2"],
        "flagged_lesion_free_levels": [], "level_flags": [],
    }  # fmt: skip
    summary = tool.summarise([row])["dual_energy"]
    assert summary["levels_conf_ge_0.9"] == 2
    assert summary["levels_conf_ge_0.9_wrong"] == 1
