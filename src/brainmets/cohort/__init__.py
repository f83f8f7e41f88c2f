"""Cohort research: survival analysis and validation of the prognostic indices on outcome data.

* :mod:`brainmets.cohort.km` - Kaplan-Meier per group and the log-rank test (lifelines, on
  polars-aggregated counts); ``brainmets km``.
* :mod:`brainmets.cohort.cindex` - Harrell's C in O(n log n), equal to
  ``lifelines.utils.concordance_index`` (higher score = longer survival).
* :mod:`brainmets.cohort.validate` - per-index KM vs published medians, log-rank, C-index,
  calibration; :mod:`brainmets.cohort.report` writes report.html + results.json;
  ``brainmets validate``.
* :mod:`brainmets.cohort.batch` - scan / score jobs for :mod:`brainmets.distributed` (Dask);
  ``brainmets batch scan|score``.
"""
