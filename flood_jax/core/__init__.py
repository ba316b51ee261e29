"""The ground floor: windows, metrics, thresholds, plots, logs and the programs' runner, used by
every floor above and importing none of them."""
