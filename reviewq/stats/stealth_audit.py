"""The stealth audit: can a classifier tell planted items from real ones by what a reviewer sees?

Trains two cross-validated classifiers (logistic regression and gradient boosting) on the reviewer
view of every served item (reviewer_view.py, the planted fault left out) and reports the
out-of-fold AUC overall, by source and by template, and the strongest single tells. Folds are
grouped by library entry or mutation source (StratifiedGroupKFold), so the classifier cannot
score by memorising a template it saw in training. AUC 0.5 is chance; DESIGN.md "Stealth" asks
for at most 0.55 overall, and a template above 0.6 (with its 95% interval clear of 0.5) is flagged
so a lead can retire it for this deployment: a library entry, or a mutator (retiring one stops it
for projection and mutation alike). Controls re-served unchanged ("replay") have no template: if
they are separable, the confirmed-good pool they come from differs from live traffic.

A planted item is compared with the real work around it. A stream is one reviewer's claims in
one canary week: every claim in it carries the same probability (canary_rate.py), so its planted
items are a uniform draw of its claims. Across streams that probability differs by design: every
reviewer gets a similar weekly budget however much they review, jittered ±30% each week (TIP), so
a busy reviewer's week holds a smaller share of planted items than a quiet one's. Pooled
unweighted, the classifier would learn who reviews and when (their hours, session lengths, the
week's traffic) instead of what is planted, and no reviewer can use that. So each stream's real
items count in proportion to its planted items (its share of the planted class), and streams with
none (a lead's or admin's, never planted on) are left out.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from reviewq.stats.reviewer_view import ViewRow, reviewer_view_rows

TARGET_AUC = 0.55
FLAG_AUC = 0.6
MIN_PLANTED = 10  # fewer planted items: no AUC is shown
MIN_TEMPLATE = 10  # a template is scored (and may be flagged) from this many items
MAX_REAL = 4000  # real items sampled, for speed; every planted item is kept
FOLDS = 5


@dataclass(frozen=True)
class Part:
    name: str
    n: int
    auc: float | None
    flagged: bool = False
    key: str | None = None  # what a lead retires: "library:<entry>" or "mutator:<name>"; None for a replay


def retire_key(row: ViewRow) -> str | None:
    """The RetiredTemplate key of what made a planted item (disputes.template_key, from the view)."""
    if row.source == "library":
        return f"library:{row.template}"
    if row.source in ("projection", "mutation"):
        return f"mutator:{row.template}"
    return None  # a control re-served unchanged: nothing of its own to retire


@dataclass
class Audit:
    n_real: int
    n_planted: int
    auc: float | None = None  # the better of the two classifiers
    auc_logistic: float | None = None
    auc_boosting: float | None = None
    half_width: float | None = None  # 95% interval (Hanley & McNeil 1982)
    by_source: list[Part] = field(default_factory=list)
    by_template: list[Part] = field(default_factory=list)
    tells: list[tuple[str, float]] = field(default_factory=list)  # feature, its own AUC (0.5 = no tell)
    message: str = ""

    @property
    def passed(self) -> bool | None:
        return None if self.auc is None else self.auc <= TARGET_AUC


def auc_score(labels: list[int], scores: list[float], weights: list[float] | None = None) -> float | None:
    """Mann-Whitney AUC with ties counted half (weighted if given); None without both classes."""
    from sklearn.metrics import roc_auc_score

    if len(set(labels)) < 2:
        return None
    return float(roc_auc_score(labels, scores, sample_weight=weights))


def stream_weights(rows: list[ViewRow]) -> list[float]:
    """Planted rows 1; a stream's real rows share their stream's part of the planted class, scaled
    so the real rows' weights still sum to their count (module docstring)."""
    planted = Counter(r.stream for r in rows if r.planted)
    real = Counter(r.stream for r in rows if not r.planted)
    n_planted, n_real = sum(planted.values()), sum(real.values())
    return [1.0 if r.planted else n_real * planted[r.stream] / (n_planted * real[r.stream]) for r in rows]


def effective_n(weights: list[float]) -> float:
    """Kish's effective sample size: unequal weights carry less information than as many equal ones."""
    return sum(weights) ** 2 / max(sum(w * w for w in weights), 1e-12)


def hanley_mcneil(auc: float, n_pos: int, n_neg: int) -> float:
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc) + (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg)
    return 1.96 * math.sqrt(max(var, 0.0))


def _sample(rows: list[ViewRow], seed: int) -> list[ViewRow]:
    planted = [r for r in rows if r.planted]
    streams = {r.stream for r in planted}
    real = [r for r in rows if not r.planted and r.stream in streams]  # no planted item there: no comparison
    if len(real) > MAX_REAL:
        real = random.Random(seed).sample(real, MAX_REAL)
    return planted + real


def out_of_fold_scores(rows: list[ViewRow], seed: int = 0, *, grouped: bool = True,
                       weights: list[float] | None = None) -> dict[str, list[float]]:
    """Out-of-fold planted-probabilities from both classifiers, folds grouped by template/source.

    `grouped=False` (plain stratified folds) exists to show what grouping prevents: a classifier
    that memorises a template seen in training scores its siblings in the test fold.
    """
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = DictVectorizer(sparse=False).fit_transform([r.features for r in rows])
    y = np.array([int(r.planted) for r in rows])
    groups = [r.group for r in rows]
    folds = min(FOLDS, len({g for g, r in zip(groups, rows, strict=True) if r.planted}))
    cv = (StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed) if grouped
          else StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed))
    models = {
        "logistic": make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced")),
        "boosting": HistGradientBoostingClassifier(max_iter=150, learning_rate=0.1, class_weight="balanced",
                                                   random_state=seed),
    }
    w = np.ones(len(rows)) if weights is None else np.asarray(weights)
    params = {"logistic": {"logisticregression__sample_weight": w}, "boosting": {"sample_weight": w}}
    from threadpoolctl import threadpool_limits

    # One thread: on a busy machine OpenMP's threads fight each other (20x slower than one).
    with threadpool_limits(1):
        return {name: list(cross_val_predict(model, x, y, groups=groups if grouped else None, cv=cv,
                                             method="predict_proba", params=params[name])[:, 1])
                for name, model in models.items()}


def template_part(name: str, rows: list[ViewRow], seed: int = 0, weights: list[float] | None = None) -> Part:
    """Can this template's items be recognised once seen? Reviewers learn templates from reveals, so
    (unlike the overall audit) a template's items may share folds: the question is whether the
    template has a look of its own, against the real items of the same agents, categories and kinds.
    Copies of one source item stay in one fold (they would be recognised as that item, not as the
    template); each rendering of a library entry is its own unit."""
    import numpy as np
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    weights = weights or [1.0] * len(rows)
    mine = [r for r in rows if r.planted and r.template == name]
    slots = {r.slot for r in mine}
    real = [(r, w) for r, w in zip(rows, weights, strict=True) if not r.planted and r.slot in slots and w > 0]
    if len(real) > 1000:
        real = random.Random(seed).sample(real, 1000)
    key = retire_key(mine[0]) if mine else None
    if len(mine) < MIN_TEMPLATE or len(real) < MIN_TEMPLATE:
        return Part(name, len(mine), None, key=key)
    both = mine + [r for r, _ in real]
    w = np.array([1.0] * len(mine) + [w for _, w in real])
    x = DictVectorizer(sparse=False).fit_transform([r.features for r in both])
    y = np.array([1] * len(mine) + [0] * len(real))
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced", C=0.3))
    with threadpool_limits(1):
        scores = cross_val_predict(model, x, y, groups=[r.unit or r.group for r in both],
                                   cv=StratifiedGroupKFold(5, shuffle=True, random_state=seed),
                                   method="predict_proba", params={"logisticregression__sample_weight": w})[:, 1]
    auc = auc_score(list(y), list(scores), list(w))
    # Flagged: above 0.6 and beyond chance (the 95% interval clears 0.5): ten items score 0.6 by luck
    # alone, and retiring a template on luck wastes the library.
    sure = auc is not None and auc - hanley_mcneil(auc, len(mine), round(effective_n(list(w[len(mine):])))) > 0.5
    # A mutator is flagged like a library entry: its items differ from real ones by which items it
    # can break (those with a trace, a JSON key, a number), which reviewers learn from reveals too.
    return Part(name, len(mine), auc, flagged=sure and auc > FLAG_AUC, key=key)


def single_tells(rows: list[ViewRow], top: int = 6, weights: list[float] | None = None) -> list[tuple[str, float]]:
    """Each feature on its own as a score: the ones furthest from AUC 0.5 first."""
    names = sorted({k for r in rows for k in r.features})
    labels = [int(r.planted) for r in rows]
    out = []
    for name in names:
        auc = auc_score(labels, [float(r.features.get(name, 0.0)) for r in rows], weights)
        if auc is not None:
            out.append((name, round(auc, 3)))
    out.sort(key=lambda t: -abs(t[1] - 0.5))
    return out[:top]


def audit_rows(rows: list[ViewRow], seed: int = 0) -> Audit:
    rows = _sample(rows, seed)
    planted = [r for r in rows if r.planted]
    audit = Audit(n_real=len(rows) - len(planted), n_planted=len(planted))
    planted_groups = {r.group for r in planted}
    if len(planted) < MIN_PLANTED or audit.n_real < MIN_PLANTED or len(planted_groups) < 2:
        audit.message = f"not enough data yet: {len(planted)} planted and {audit.n_real} real items served"
        return audit
    weights = stream_weights(rows)
    scores = out_of_fold_scores(rows, seed, weights=weights)
    labels = [int(r.planted) for r in rows]
    audit.auc_logistic = auc_score(labels, scores["logistic"], weights)
    audit.auc_boosting = auc_score(labels, scores["boosting"], weights)
    best = "logistic" if (audit.auc_logistic or 0) >= (audit.auc_boosting or 0) else "boosting"
    audit.auc = max(audit.auc_logistic or 0.5, audit.auc_boosting or 0.5)
    n_real = round(effective_n([w for w, r in zip(weights, rows, strict=True) if not r.planted]))
    audit.half_width = hanley_mcneil(audit.auc, len(planted), n_real)
    scored = list(zip(scores[best], rows, weights, strict=True))
    for name in sorted({r.source for r in planted}):
        picked = [s for s, r, _ in scored if r.planted and r.source == name]
        slots = {r.slot for r in planted if r.source == name}
        real = [(s, w) for s, r, w in scored if not r.planted and r.slot in slots]
        auc = auc_score([1] * len(picked) + [0] * len(real), picked + [s for s, _ in real],
                        [1.0] * len(picked) + [w for _, w in real]) if real else None
        audit.by_source.append(Part(name, len(picked), auc))
    audit.by_source.sort(key=lambda p: -(p.auc or 0))
    for name in sorted({r.template for r in planted}):
        audit.by_template.append(template_part(name, rows, seed, weights))
    audit.by_template.sort(key=lambda p: -(p.auc or 0))
    audit.tells = single_tells(rows, weights=weights)
    verdict = "indistinguishable" if audit.auc <= TARGET_AUC else "separable: see the tells below"
    audit.message = f"AUC {audit.auc:.3f} ± {audit.half_width:.3f}: planted items are {verdict}"
    return audit


def run_audit(*, session: Session, now: datetime, weeks: int = 4, seed: int = 0, timezone: str = "UTC") -> Audit:
    return audit_rows(reviewer_view_rows(session=session, now=now, weeks=weeks, timezone=timezone), seed)
