"""Flood maps from a trained model: engines, blended windows, the map's rules (threshold, caps,
minimum mapping unit, change detection) and the files one or many scenes write."""
