"""Agreement formulas (VIGILANCE.md §8) against hand-worked examples and the `krippendorff` package."""

from __future__ import annotations

import random

import krippendorff
import numpy as np
import pytest

from reviewq.stats import agreement as ag

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", nominal example: 4 observers,
# 12 units, missing values as None; the published alpha is 0.743.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


def _units(matrix):
    return [tuple(row[u] for row in matrix) for u in range(len(matrix[0]))]


def _reference_alpha(units):
    labels = sorted({x for u in units for x in u if x is not None}, key=str)
    code = {label: float(i) for i, label in enumerate(labels)}
    width = max(len(u) for u in units)
    data = np.full((width, len(units)), np.nan)
    for j, unit in enumerate(units):
        for i, label in enumerate(unit):
            if label is not None:
                data[i, j] = code[label]
    return krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")


def test_alpha_matches_krippendorffs_published_example():
    """The nominal alpha of Krippendorff's 2011 worked example is 0.743, as published."""
    assert ag.krippendorff_alpha_nominal(_units(KRIPPENDORFF_2011)) == pytest.approx(0.743, abs=5e-4)


def test_hand_worked_two_raters():
    """Four items (a,a),(a,b),(b,b),(b,b): raw 0.75, kappa 0.5, alpha 1 - 14/30 worked by hand."""
    units = [("a", "a"), ("a", "b"), ("b", "b"), ("b", "b")]
    assert ag.raw_agreement(units) == pytest.approx(0.75)
    # p_o = .75; margins first (2a, 2b), second (1a, 3b): p_e = (2*1 + 2*3) / 16 = .5.
    assert ag.cohen_kappa(units) == pytest.approx(0.5)
    # o_aa=2, o_ab=o_ba=1, o_bb=4, n=8, n_a=3, n_b=5: alpha = 1 - 7 * 2 / 30.
    assert ag.krippendorff_alpha_nominal(units) == pytest.approx(1 - 14 / 30)


def test_cohen_kappa_textbook_table():
    """The 2x2 table 20/5/10/15 gives p_o = .7, p_e = .5 and kappa = .4."""
    pairs = [("y", "y")] * 20 + [("y", "n")] * 5 + [("n", "y")] * 10 + [("n", "n")] * 15
    assert ag.cohen_kappa(pairs) == pytest.approx(0.4)
    assert ag.confusion(pairs, ["y", "n"]) == [[20, 5], [10, 15]]


def test_undefined_when_only_one_label_is_ever_used():
    """With one label only, chance agreement is 1 and kappa and alpha are undefined (None), not 1 or 0."""
    units = [("approve", "approve")] * 12
    assert ag.cohen_kappa(units) is None
    assert ag.krippendorff_alpha_nominal(units) is None
    assert ag.raw_agreement(units) == 1.0


@pytest.mark.parametrize("seed", range(8))
def test_alpha_matches_reference_on_random_data_with_missing_values(seed):
    """Random nominal data with 2-5 raters and gaps: alpha equals the `krippendorff` package's."""
    rng = random.Random(seed)
    raters = rng.randint(2, 5)
    labels = ["approve", "hallucinated_fact", "off_topic", "schema_violation"][: rng.randint(2, 4)]
    units = []
    for _ in range(rng.randint(15, 60)):
        truth = rng.choice(labels)
        units.append(tuple(
            None if rng.random() < 0.2 else (truth if rng.random() < 0.7 else rng.choice(labels))
            for _ in range(raters)
        ))
    ours = ag.krippendorff_alpha_nominal(units)
    assert ours == pytest.approx(_reference_alpha(ag.pairable(units)), abs=1e-9)


def test_two_rater_alpha_close_to_kappa_on_large_samples():
    """For two raters alpha and kappa differ only by a small-sample factor: close at n = 2,000."""
    rng = random.Random(7)
    pairs = []
    for _ in range(2000):
        truth = rng.random() < 0.3
        pairs.append(tuple(truth if rng.random() < 0.85 else not truth for _ in range(2)))
    assert ag.cohen_kappa(pairs) == pytest.approx(ag.krippendorff_alpha_nominal(pairs), abs=0.01)


def test_bootstrap_interval_covers_the_estimate_and_narrows_with_n():
    """The 95% bootstrap interval contains the point estimate and is narrower for 400 items than 40."""
    rng = random.Random(3)

    def sample(n):
        out = []
        for _ in range(n):
            truth = rng.random() < 0.4
            out.append(tuple(truth if rng.random() < 0.9 else not truth for _ in range(2)))
        return out

    small, big = sample(40), sample(400)
    lo_s, hi_s = ag.bootstrap_interval(small, ag.cohen_kappa, rng=random.Random(1), resamples=400)
    lo_b, hi_b = ag.bootstrap_interval(big, ag.cohen_kappa, rng=random.Random(1), resamples=400)
    assert lo_b <= ag.cohen_kappa(big) <= hi_b
    assert hi_b - lo_b < hi_s - lo_s


def test_small_sample_display_rules():
    """Under the minimum no figure is shown; 10-29 items are provisional; 30+ are shown (VIGILANCE.md §3)."""
    units = [("a", "a")] * 5 + [("a", "b")] * 4
    few = ag.agreement(units, rng=random.Random(0), minimum=10).as_json()
    assert few["status"] == "no_rate" and few["kappa"] is None and few["alpha"] is None and few["raw"] is None
    some = ag.agreement(units * 2, rng=random.Random(0), minimum=10, resamples=200).as_json()
    assert some["status"] == "provisional" and some["raw"] == pytest.approx(10 / 18) and some["raw_ci"]
    many = ag.agreement(units * 4, rng=random.Random(0), minimum=10, resamples=200)
    assert many.status == "rated" and not many.fit_to_judge


def test_kappa_left_out_when_items_have_more_than_two_raters():
    """Cohen's kappa is for two raters: with a three-rater item only alpha and raw agreement are given."""
    units = [("a", "a"), ("b", "b"), ("a", "b", "a")] * 5
    fig = ag.agreement(units, rng=random.Random(0), minimum=10, resamples=100)
    assert fig.kappa is None and fig.alpha is not None
