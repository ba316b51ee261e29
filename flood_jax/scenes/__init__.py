"""Sentinel-1 products as responders have them: raster I/O, the scale decision, what an input
names, scenes read window by window and the layers (reference water, exclusion) warped onto them."""
