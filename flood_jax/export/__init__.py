"""A training workdir written as a checked model folder for fast CPU inference; run as
`python -m flood_jax.export`."""
