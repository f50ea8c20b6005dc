"""Segmentation benchmark: suites with ground truth, metrics, reports, comparisons."""
