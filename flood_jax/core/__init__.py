"""The ground floor: windows, metrics, classical thresholds, plots and atomic file writing, used
by every floor above and importing none of them."""
