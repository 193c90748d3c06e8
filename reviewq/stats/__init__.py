"""Dashboard queries: aggregation in SQL (GROUP BY, window functions, rollups) on SQLite and PostgreSQL.

The formulas they feed are pure functions in reviewq.domain.vigilance.
"""

from reviewq.stats.dashboard import build_dashboard, build_reviewer_page
from reviewq.stats.filters import Filters

__all__ = ["Filters", "build_dashboard", "build_reviewer_page"]
