"""What is made from a flood map: the COG files, polygons, STAC Item, pictures, reports, a
flood's course, and the orchestration of one scene or many into them."""
