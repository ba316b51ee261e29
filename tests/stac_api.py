"""A STAC API on the loopback for the tests: local items served as the STAC API specification's
Item Search says (https://github.com/radiantearth/stac-api-spec, v1.0.0): a landing page that
conforms to core and item-search with its `search` links, and `/search` by GET and POST
filtering by `collections`, `bbox` or `intersects` and `datetime` (an instant or an interval,
open ends as `..`), at most `page_size` items a page with a `next` link. `fail=True` answers
500 to every search."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import shapely

CONFORMS = [
  "https://api.stacspec.org/v1.0.0/core",
  "https://api.stacspec.org/v1.0.0/item-search",
]


def _time(text: str) -> dt.datetime:
  return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _in_dates(item: dict, interval: str | None) -> bool:
  if not interval:
    return True
  when = _time(item["properties"]["datetime"])
  start, _, end = interval.partition("/")
  if not end:
    return when == _time(start)
  return (start in ("", "..") or when >= _time(start)) and (end in ("", "..") or when <= _time(end))


def _matches(item: dict, query: dict) -> bool:
  if query.get("collections") and item.get("collection") not in query["collections"]:
    return False
  area = None
  if query.get("intersects"):
    area = shapely.geometry.shape(query["intersects"])
  elif query.get("bbox"):
    area = shapely.box(*query["bbox"])
  if area is not None and not area.intersects(shapely.geometry.shape(item["geometry"])):
    return False
  return _in_dates(item, query.get("datetime"))


class StacApi:
  """`items` (dicts) served at `url` while the context is open."""

  def __init__(self, items: list[dict], fail: bool = False, page_size: int = 10):
    self.items, self.fail, self.page_size, self.requests = items, fail, page_size, []

  def landing(self) -> dict:
    return {
      "type": "Catalog",
      "id": "loopback",
      "stac_version": "1.0.0",
      "description": "local items for the tests",
      "conformsTo": CONFORMS,
      "links": [
        {"rel": "self", "href": self.url, "type": "application/json"},
        {"rel": "root", "href": self.url, "type": "application/json"},
        {"rel": "search", "href": f"{self.url}/search", "type": "application/geo+json",
         "method": "GET"},
        {"rel": "search", "href": f"{self.url}/search", "type": "application/geo+json",
         "method": "POST"},
      ],
    }  # fmt: skip

  def page(self, query: dict) -> dict:
    found = [item for item in self.items if _matches(item, query)]
    start = int(query.get("token") or 0)
    limit = min(int(query.get("limit") or self.page_size), self.page_size)
    page = {"type": "FeatureCollection", "features": found[start : start + limit], "links": []}
    if start + limit < len(found):
      body = {**query, "token": str(start + limit)}
      page["links"].append({"rel": "next", "href": f"{self.url}/search", "method": "POST",
                            "body": body, "type": "application/geo+json"})  # fmt: skip
    return page

  @contextlib.contextmanager
  def serving(self) -> Iterator[StacApi]:
    api = self

    class Handler(BaseHTTPRequestHandler):
      def log_message(self, *args):  # quiet
        pass

      def _answer(self, payload: dict, status: int = 200):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

      def _search(self, query: dict):
        api.requests.append(query)
        if api.fail:
          self._answer({"code": "ServerError", "description": "the index is down"}, 500)
        else:
          self._answer(api.page(query))

      def do_GET(self):
        url = urlparse(self.path)
        if url.path in ("", "/"):
          self._answer(api.landing())
        elif url.path == "/search":
          values = {key: value[0] for key, value in parse_qs(url.query).items()}
          query = dict(values)
          if "collections" in values:
            query["collections"] = values["collections"].split(",")
          if "bbox" in values:
            query["bbox"] = [float(value) for value in values["bbox"].split(",")]
          if "intersects" in values:
            query["intersects"] = json.loads(values["intersects"])
          self._search(query)
        else:
          self._answer({"code": "NotFound"}, 404)

      def do_POST(self):
        if urlparse(self.path).path != "/search":
          self._answer({"code": "NotFound"}, 404)
          return
        length = int(self.headers.get("Content-Length") or 0)
        self._search(json.loads(self.rfile.read(length) or b"{}"))

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    self.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
      yield self
    finally:
      server.shutdown()
      server.server_close()
