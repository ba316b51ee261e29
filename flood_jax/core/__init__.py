"""The ground floor: windows, metrics, classical thresholds, figures and atomic file writing, used
by every floor above and importing none of them."""
