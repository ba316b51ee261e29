"""A model scored on whole chips beside classical baselines, with Grad-CAM++."""
