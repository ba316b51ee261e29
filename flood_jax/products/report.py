"""A flood report a responder can hand on: one self-contained HTML file (the quicklook inline as
a data: URI, styles inline, system fonts, no script, nothing fetched from a network) with the
areas of each class, the people in flood water when a population layer was given, the inputs and
their scale decisions, the acquisition time, and the model with its threshold, rules and the
limits from its model card.
"""

from __future__ import annotations

import base64
import html
from importlib.metadata import version
from pathlib import Path

from flood_jax.mapping import identity
from flood_jax.mapping.classes import COLOURS, DRY, EXCLUDED, NODATA, PERMANENT_WATER, WATER
from flood_jax.products.summary import partial

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em auto;
       max-width: 1240px; color: #1a1a1a; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
.lead { color: #444; margin-top: 0; } img { max-width: 100%; border: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0; max-width: 100%; }
th, td { padding: 0.3em 0.8em; border-bottom: 1px solid #ddd; text-align: left;
  overflow-wrap: anywhere; } td.n { text-align: right; white-space: nowrap; }
code { font-size: 0.95em; background: #f3f3f3; padding: 0 0.2em; }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; border: 1px solid #333;
  vertical-align: middle; margin-right: 0.4em; } .key { font-size: 1.3em; font-weight: bold; }
ul.limits li { margin-bottom: 0.4em; } footer { color: #666; font-size: 0.85em; margin-top: 2em; }
"""

CLASS_KEYS = (  # (class, summary key of its area)
  (WATER, ("flood_km2", "water_km2")),
  (PERMANENT_WATER, ("permanent_water_km2",)),
  (EXCLUDED, ("excluded_km2",)),
  (DRY, ("dry_km2",)),
  (NODATA, ("nodata_km2",)),
)


def _swatch(value: int) -> str:
  red, green, blue, alpha = COLOURS[value]  # dry: its own colour, as the quicklook tints it
  fill = f"rgba({red},{green},{blue},{alpha / 255:.2f})"
  return f'<span class="swatch" style="background:{fill}"></span>'


def area_rows(summary: dict, names: dict[int, str]) -> list[tuple[int, str, float, float]]:
  """(class, name, km², % of valid) of each class the map has; excluded as a share of valid
  and excluded pixels, no data of the whole scene (as `AreaTally` counts them)."""
  km2 = {value: next((summary[key] for key in keys if key in summary), None)
         for value, keys in CLASS_KEYS}  # fmt: skip
  valid = sum(km2[value] or 0.0 for value in (DRY, WATER, PERMANENT_WATER))
  whole = {DRY: valid, WATER: valid, PERMANENT_WATER: valid}
  whole[EXCLUDED] = valid + (km2[EXCLUDED] or 0.0)
  whole[NODATA] = whole[EXCLUDED] + (km2[NODATA] or 0.0)
  rows = []
  for value, _ in CLASS_KEYS:
    if value in names and km2[value] is not None:
      share = 100 * km2[value] / whole[value] if whole[value] else float("nan")
      rows.append((value, names[value], float(km2[value]), share))
  return rows


PEOPLE_LABELS = {  # summary key: where the people are (flood or all water first)
  "people_in_flood_water": "in flood water",
  "people_in_water": "in water",
  "people_in_permanent_water": "in permanent water",
}


def people_rows(summary: dict) -> list[tuple[str, int]]:
  """(where, people) that the summary counted, flood (or all) water first."""
  return [(label, summary[key]) for key, label in PEOPLE_LABELS.items() if key in summary]


def _headline(summary: dict) -> str:
  flood = "flood_km2" in summary
  area = summary["flood_km2" if flood else "water_km2"]
  share = summary["flood_fraction" if flood else "water_fraction"]
  what = "Flood water" if flood else "Water"
  people = people_rows(summary)
  told = (
    f", {people[0][1]:,} people {people[0][0]}{partial(summary, 'population')}" if people else ""
  )
  return f"{what}: {area:,.2f} km² ({share:.1%} of valid pixels){told}"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]], numeric: set[int]) -> str:
  head = "".join(f"<th>{html.escape(text)}</th>" for text in header)
  body = "".join(
    "<tr>"
    + "".join(
      f'<td class="n">{cell}</td>' if index in numeric else f"<td>{cell}</td>"
      for index, cell in enumerate(row)
    )
    + "</tr>"
    for row in rows
  )
  return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _inputs_table(summary: dict) -> str:
  scenes = [("post-event", summary)]
  if "pre_event" in summary:
    scenes.append(("pre-event", summary["pre_event"]))
  rows = []
  for role, scene in scenes:
    # file names: the full paths are in the STAC Item (a report is handed on, paths stay here)
    files = "<br>".join(html.escape(Path(path).name) for path in scene["inputs"])
    scale = f"{html.escape(scene['scale'])} ({html.escape(scene['scale_reason'])})"
    acquired = f"{html.escape(scene['acquired'])} ({html.escape(str(scene['acquired_from']))})"
    rows.append((role, files, scale, acquired))
  return _table(("scene", "files", "scale decision", "acquired"), rows, set())


def _model_section(model, summary: dict) -> str:
  rules = model.rule.items()
  limits = identity.limits(model) or ["No model card: this model's limits are not documented."]
  items = "".join(f"<li>{html.escape(rule)}</li>" for rule in rules)
  limit_items = "".join(f"<li>{with_code(limit)}</li>" for limit in limits)
  return (
    f"<p>{html.escape(summary['model'])}</p><p>Trained on: {html.escape(identity.training_data(model))}"
    f"</p><ul>{items}</ul><h2>Limits of the model</h2><ul class='limits'>{limit_items}</ul>"
  )


def with_code(text: str) -> str:
  """HTML of a card's line: escaped, `code` spans as <code> (the backticks showed literally)."""
  parts = html.escape(text).split("`")
  return "".join(f"<code>{part}</code>" if index % 2 else part for index, part in enumerate(parts))


def report_html(summary: dict, picture_png: bytes, model, names: dict[int, str]) -> str:
  """The report of one mapped scene (`summary` as `write_scene` returns it, `names` the
  map's classes) as an HTML document."""
  notes = {PERMANENT_WATER: partial(summary, "reference_water")}
  areas = [
    (f"{_swatch(value)}{html.escape(name + notes.get(value, ''))}", f"{km2:,.3f}", f"{share:.2f}")
    for value, name, km2, share in area_rows(summary, names)
  ]
  people = [(html.escape(label + partial(summary, "population")), f"{count:,}")
            for label, count in people_rows(summary)]  # fmt: skip
  people_table = _table(("people", "count"), people, {1}) if people else ""
  body = f"""<p class="key">{html.escape(_headline(summary))}</p>
{_inline_png(picture_png, "flood map over the radar image")}
<h2>Areas</h2>{_table(("class", "km²", "% of valid"), areas, {1, 2})}{people_table}
<p>Ground areas (geodesic, or corrected for the CRS's area scale) over
{summary["valid_pixels"]:,} valid pixels of {summary["pixel_size_m"]:g} m; excluded as a share of
valid and excluded pixels, no data of the whole scene.</p>
<h2>Inputs</h2>{_inputs_table(summary)}
<h2>Model</h2>{_model_section(model, summary)}"""
  footer = "Machine-made map: check it against the radar image before relying on it."
  lead = f"Acquired {summary['acquired']}"
  if summary.get("area"):
    lead += f"; the area of interest {Path(summary['area']).name} only"
  return _page(f"Flood report: {summary['scene']}", lead, body, footer)


def _page(title: str, lead: str, body: str, footer: str) -> str:
  """A self-contained HTML document: title, a lead line, `body` (HTML) and a footer line."""
  return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{STYLE}</style></head>
<body><h1>{html.escape(title)}</h1>
<p class="lead">{html.escape(lead)}</p>
{body}
<footer>Made by flood_jax {html.escape(version("flood_jax"))}. {html.escape(footer)}</footer>
</body></html>
"""


def _inline_png(png: bytes, alt: str) -> str:
  return (
    f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
  )


def course_html(summary: dict, rows: list[dict], area_png: bytes, count_png: bytes) -> str:
  """The report of a flood's course (`products.flood_course`): the area over time, the flood count map
  and the table of acquisitions, as one self-contained HTML document."""
  table = [
    (html.escape(row["acquired"]), f"{row['days']:g}", html.escape(Path(row["map"]).name),
     f"{row['flood_km2']:,.3f}", f"{row['observed_km2']:,.3f}",
     "" if row["people_in_flood_water"] == "" else f"{row['people_in_flood_water']:,}")
    for row in rows
  ]  # fmt: skip
  header = ("acquired", "days", "map", "flood water km²", "observed km²", "people in flood water")
  title = f"Flood course: {summary['acquisitions']} acquisitions"
  lead = f"{summary['first']} to {summary['last']}"
  body = f"""<p class="key">Largest flood water extent of one acquisition: {summary["max_flood_km2"]:,.2f} km²</p>
<h2>Flood water over time</h2>{_inline_png(area_png, "flood water area against time")}
{_table(header, table, {1, 3, 4, 5})}
<p>Areas on the first map's grid (each map warped onto it, nearest neighbour); observed: dry or
water in that acquisition, so a smaller observed area means part of the area was not seen.</p>
<h2>How often each place was flood water</h2>
{_inline_png(count_png, "number of acquisitions in which each pixel was flood water")}"""
  return _page(title, lead, body, "From the maps listed above.")
