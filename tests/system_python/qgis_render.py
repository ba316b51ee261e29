"""Run by Debian's Python (`python3-qgis`), not the project's: loads a flood map in QGIS with the
style it finds beside it (<map>.qml), renders it to a PNG at one pixel per map pixel, and prints
what QGIS made of it as JSON: the layer's validity, whether the style loaded, the renderer and
its classes (value, label, colour)."""

import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import (  # noqa: E402
  QgsApplication,
  QgsMapRendererSequentialJob,
  QgsMapSettings,
  QgsRasterLayer,
)
from qgis.PyQt.QtCore import QSize  # noqa: E402
from qgis.PyQt.QtGui import QColor  # noqa: E402

application = QgsApplication([], False)
application.initQgis()
layer = QgsRasterLayer(sys.argv[1], "flood")
_, style_loaded = layer.loadDefaultStyle()
renderer = layer.renderer()
classes = []
if renderer.type() == "paletted":
  classes = [
    [entry.value, entry.label, entry.color.name(QColor.HexArgb)] for entry in renderer.classes()
  ]
settings = QgsMapSettings()
settings.setLayers([layer])
settings.setDestinationCrs(layer.crs())
settings.setExtent(layer.extent())
settings.setOutputSize(QSize(layer.width(), layer.height()))
settings.setBackgroundColor(QColor(0, 0, 0, 0))
job = QgsMapRendererSequentialJob(settings)
job.start()
job.waitForFinished()
job.renderedImage().save(sys.argv[2])
print(
  json.dumps(
    {
      "valid": layer.isValid(),
      "style_loaded": bool(style_loaded),
      "renderer": renderer.type(),
      "classes": classes,
    }
  ),
  flush=True,
)
os._exit(0)  # QGIS 3.22's exitQgis() crashes without a display; nothing is left to clean up
