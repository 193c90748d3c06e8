"""JSON-ready figures for issue 13's numbers: within-reviewer decay, the two signals, skips,
difficulty and reliability. Every verdict's wording is decided here, once (VIGILANCE.md §3-§5, §7),
so the pages and the exports never contradict each other."""

from __future__ import annotations

from typing import Any

from reviewq.config import Settings
from reviewq.domain import vigilance as v
from reviewq.domain import vigilance_ability as va
from reviewq.domain import vigilance_decay as vd
from reviewq.domain import vigilance_drift as vdr

PER_WEEK_DEFAULT = 5

VERDICT_TEXT = {
    vd.DECREMENT: "catch rate drops after 20 min (within reviewers)",
    vd.NO_DECREMENT: "no evidence of a drop after 20 min (within reviewers)",
    vd.NOT_ENOUGH: "not enough data yet for a verdict",
}


def _iv(iv: v.Interval) -> dict[str, Any]:
    return {"n": iv.n, "k": iv.k, "rate": iv.rate, "low": iv.low, "high": iv.high}


def display_status(n: int, min_n: int) -> str:
    """The §3 display thresholds, shared by rates, d' and c."""
    if n < min_n:
        return v.NO_RATE
    return v.PROVISIONAL if n < max(v.PROVISIONAL_BELOW, min_n) else v.RATED


# --- §4 decay -------------------------------------------------------------------------------------


def decay_json(
    by_reviewer: dict[int, list[v.MinuteCounts]], settings: Settings, *, timing: tuple[int, int],
    reviewers: list[str], selected: str | None,
) -> dict[str, Any]:
    """The decay headline (Mantel-Haenszel within reviewers), the within-reviewer curve, and the
    raw pooled view kept as a secondary, labelled one."""
    bin_minutes = settings.vigilance.decay_bin_minutes
    strata = vd.split_strata(by_reviewer, 20)
    mh = vd.mantel_haenszel(strata.values())
    slope = vd.stratified_slope(by_reviewer)
    early, late = vd.pooled_early_late(strata.values())
    pooled_p = v.fisher_one_sided(early.k, early.n, late.k, late.n) if early.n and late.n else None
    all_slices = [s for slices in by_reviewer.values() for s in slices]
    verdict = mh.verdict
    if mh.odds_ratio is not None:
        headline = (f"within reviewers, odds of a catch in the first 20 min are {mh.odds_ratio:.2f}× "
                    f"those after (95% CI {mh.low:.2f}–{mh.high:.2f})")
    elif mh.strata_used and mh.early[1] and mh.late[1]:
        early_, late_ = mh.early, mh.late
        side = ("no canary in the first 20 min was missed" if early_[0] == early_[1] else
                "no canary after 20 min was caught" if late_[0] == 0 else
                "no canary after 20 min was missed" if late_[0] == late_[1] else
                "no canary in the first 20 min was caught" if early_[0] == 0 else
                "each reviewer missed none early or caught none late")
        headline = (f"within reviewers, {side} (first 20 min {early_[0]}/{early_[1]}, "
                    f"after {late_[0]}/{late_[1]}), "
                    "so the odds ratio has no finite value; the test below still applies")
    else:
        headline = "no reviewer has canaries both in the first 20 min and after"
    detail = VERDICT_TEXT[verdict]
    if verdict == vd.NOT_ENOUGH and mh.power is not None:
        detail += f" (power {mh.power:.0%} to see .90 → .70; {v.MIN_PER_GROUP}+ canaries a side needed)"
    elif verdict == vd.NOT_ENOUGH:
        detail += ": canaries both before and after 20 minutes are needed"
    logistic = {"converged": slope.converged, "n": slope.n}
    if slope.converged:  # §4: an unconverged fit shows no slope
        logistic.update({
            "slope_per_min": slope.slope, "slope_per_10min": slope.slope * 10, "se": slope.se,
            "p": slope.p_two_sided, "p_text": vd.format_p(slope.p_two_sided), "power": slope.power,
            "verdict": slope.verdict, "verdict_text": VERDICT_TEXT[slope.verdict].replace("after 20 min", "with time"),
        })
    n_curve, n_fallback = timing
    return {
        "bin_minutes": bin_minutes,
        "selected": selected,
        "reviewers": reviewers,
        "headline": headline,
        "verdict": verdict,
        "verdict_text": detail,
        "mh": {"odds_ratio": mh.odds_ratio, "low": mh.low, "high": mh.high, "p": mh.p_value,
               "p_text": vd.format_p(mh.p_value), "p_cmh": mh.p_two_sided, "p_wald": mh.p_wald,
               "power": mh.power, "strata": mh.strata_used,
               "early": {"k": mh.early[0], "n": mh.early[1]}, "late": {"k": mh.late[0], "n": mh.late[1]}},
        "adjusted_bins": [
            {"start": b.start, "end": b.end, "n": b.n, "k": b.caught, "expected": b.expected,
             "rate": b.rate, "low": b.low, "high": b.high}
            for b in vd.within_reviewer_curve(by_reviewer, bin_minutes=bin_minutes)
        ],
        # The secondary view: pooled across reviewers, labelled as such on the page.
        "bins": [{"start": b.start, "end": b.end, **_iv(b.interval)}
                 for b in v.decay_bins(all_slices, bin_minutes=bin_minutes)],
        "early": _iv(early),
        "late": _iv(late),
        "pooled_headline": f"pooled (mixes reviewers): first 20 min {_pct(early.rate)} vs after {_pct(late.rate)}",
        "fisher_p": pooled_p,
        "fisher_p_text": vd.format_p(pooled_p),
        "min_per_group": v.MIN_PER_GROUP,
        "logistic": logistic,
        "timing": {"canaries": n_curve, "server_fallback": n_fallback},
    }


def _prob(p: float) -> str:
    """A probability without a false 0% or 100%."""
    if p > 0.99:
        return "> 99%"
    if p < 0.01:
        return "< 1%"
    return f"= {p:.0%}"


def _pct(rate: float | None) -> str:
    return "–" if rate is None else f"{rate:.0%}"


# --- §3, §5 the two signals -----------------------------------------------------------------------


def drift_params(settings: Settings) -> vdr.DriftParams:
    vs = settings.vigilance
    return vdr.DriftParams(baseline=vs.drift_baseline_canaries, guard=vs.drift_guard_canaries,
                           quantile=vs.drift_quantile, rise=vs.cusum_p1 - vs.cusum_p0, h=vs.cusum_h)


def signals_json(caught: int, n: int, missed_history: list[bool], settings: Settings) -> dict[str, Any]:
    """"Below target?" (Jeffreys, §3) and "dropped from own level?" (own-baseline CUSUM, §5)."""
    vs = settings.vigilance
    below = vdr.below_target(caught, n, target=vs.target_catch_rate, min_canaries=vs.min_canaries,
                             alert_at=vs.below_target_alert)
    params = drift_params(settings)
    drift = vdr.own_baseline_cusum(missed_history, params)
    arl = vdr.in_control_run_length(drift.p0, params.rise, params.h) if drift.p0 is not None else None
    if drift.status == "baseline":
        drift_text = f"drop from own level: not asked before {params.baseline} canaries ({drift.n} so far)"
    elif drift.alarm:
        drift_text = (f"dropped from own level: misses ran above their {1 - drift.p0:.0%} baseline "
                      f"(alarm at canary {drift.alarms[-1] + 1})")
    else:
        drift_text = f"no drop from own level (baseline catch rate {1 - drift.p0:.0%})"
    if below.probability is None:
        below_text = f"below target {vs.target_catch_rate:.0%}? not asked before {vs.min_canaries} canaries"
    elif below.alert:
        below_text = f"likely below target {vs.target_catch_rate:.0%} (P {_prob(below.probability)})"
    else:
        below_text = f"P(below target {vs.target_catch_rate:.0%}) {_prob(below.probability)}"
    return {
        "below_target": {"probability": below.probability, "alert": below.alert, "text": below_text,
                         "p_text": None if below.probability is None else _prob(below.probability).lstrip("= "),
                         "target": vs.target_catch_rate},
        "drift": {
            "status": drift.status, "alarm": drift.alarm, "text": drift_text, "n": drift.n,
            "baseline_catch": drift.baseline_catch, "alarms": len(drift.alarms),
            "alarm_at": [a + 1 for a in drift.alarms], "value": drift.value, "h": drift.h,
            "path": list(drift.path),
            "in_control_run_length": arl,
            "in_control_weeks": arl / PER_WEEK_DEFAULT if arl else None,
        },
    }


def sdt_json(hits: int, n_canary: int, false_alarms: int, n_good: int, min_n: int) -> dict[str, Any] | None:
    """d' and c with delta-method intervals, under the same display thresholds as rates (§2, §3)."""
    status = display_status(min(n_canary, n_good), min_n)
    if status == v.NO_RATE:
        return None
    s = v.signal_detection(hits=hits, n_canary=n_canary, false_alarms=false_alarms, n_good=n_good)
    iv = v.sdt_interval(s)
    return {"h": s.h, "f": s.f, "d_prime": s.d_prime, "d_low": iv.d_low, "d_high": iv.d_high,
            "c": s.c, "c_low": iv.c_low, "c_high": iv.c_high, "ln_beta": s.ln_beta, "a_prime": s.a_prime,
            "status": status}


# --- §7 skips, difficulty, reliability --------------------------------------------------------------


SKIP_RULE = ("skip-aware catch rate: caught ÷ every canary planted for them that closed, counting a canary "
             "they skipped and never decided, or that expired in their queue, as not caught")


def skips_json(c: va.SkipCounts, min_n: int, *, long: tuple[int, int] | None, long_share: float,
               hard: tuple[int, int] | None) -> dict[str, Any]:
    inclusive = va.inclusive_catch(c)
    out = {
        "real": {**_iv(va.skip_rate(c.real_skips, c.real_decided)), "skips": c.real_skips},
        "planted": {**_iv(va.skip_rate(c.planted_skips, c.planted_decided)), "skips": c.planted_skips},
        "canaries_skipped_expired": c.canaries_skipped_expired,
        "canaries_expired_unseen": c.canaries_expired_unseen,
        "inclusive_catch": {**_iv(inclusive), "status": display_status(inclusive.n, min_n)},
        "rule": SKIP_RULE,
        "concentrated_on": [],
    }
    if long is not None:
        p = va.skip_concentration(long[0], long[1], long_share)
        out["long"] = {"skips": long[1], "on_long": long[0], "p": p}
        if p is not None and long[1] >= 5 and p < 0.01:
            out["concentrated_on"].append("long items")
    if hard is not None:
        p = va.skip_concentration(hard[0], hard[1], 0.5)
        out["hard"] = {"skips": hard[1], "on_hard": hard[0], "p": p}
        if p is not None and hard[1] >= 5 and p < 0.01:
            out["concentrated_on"].append("hard canaries")
    return out


def difficulty_json(items: list[va.Difficulty], limit: int = 40) -> list[dict[str, Any]]:
    return [{"template": d.template, "reviewers": d.reviewers, **_iv(d.interval)} for d in items[:limit]]


def ability_json(ability: va.Ability | None, n: int, min_n: int) -> dict[str, Any] | None:
    if ability is None or n < min_n:
        return None
    return {"rate": ability.adjusted_rate, "low": ability.low, "high": ability.high, "theta": ability.theta,
            "se": ability.se, "status": display_status(n, min_n)}


def reliability_json(n: int, split: va.SplitHalf, target: float) -> dict[str, Any]:
    rel = va.reliability_for(n, split.r_single, target=target)
    if rel.value is None:
        text = ("not estimable yet: needs 3+ reviewers with 6+ canaries whose scores differ"
                if split.r_single is None or split.r_single <= 0 else "no canaries yet")
    elif rel.more_for_target == 0:
        text = f"{rel.value:.2f} (≥ {target:g})"
    else:
        text = f"{rel.value:.2f}: {rel.more_for_target} more canaries until {target:g}"
    short = "–" if rel.value is None else (f"{rel.value:.2f}" if rel.more_for_target == 0
                                            else f"{rel.value:.2f} (+{rel.more_for_target})")
    return {"value": rel.value, "more_for_target": rel.more_for_target, "target": target, "text": text, "short": short,
            "r_single": split.r_single, "from_reviewers": split.reviewers}
