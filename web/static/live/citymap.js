// The city page's map: district outlines from /api/city/map and a dot per located venue, drawn
// as inline SVG (no library, no map service: it works offline and under the page's CSP).
// Equirectangular projection, fitted to the districts' bounding box.
import { format, number, T } from "./live.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 1000;  // the viewBox's width; its height follows the area's shape
const DOT_PX = 6;  // a dot's radius on screen, whatever the map's size
const LABEL_PX = 12;
const MARGIN = 0.02;  // of the width, around the districts

function svg(tag, attrs = {}) {
  const element = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) element.setAttribute(key, value);
  return element;
}

/** Every [longitude, latitude] of a Polygon's or MultiPolygon's rings. */
function rings(geometry) {
  return geometry.type === "Polygon" ? geometry.coordinates : geometry.coordinates.flat();
}

function bounds(points) {
  const box = { west: Infinity, east: -Infinity, south: Infinity, north: -Infinity };
  for (const [lon, lat] of points) {
    box.west = Math.min(box.west, lon); box.east = Math.max(box.east, lon);
    box.south = Math.min(box.south, lat); box.north = Math.max(box.north, lat);
  }
  return box;
}

/** Degrees to viewBox units: longitudes shrunk by the cosine of the middle latitude, so that the
 *  city keeps its shape; north up. */
function projection(box) {
  const shrink = Math.cos(((box.north + box.south) / 2) * Math.PI / 180);
  const span = Math.max((box.east - box.west) * shrink, 1e-6);
  const scale = WIDTH / span;
  return {
    width: WIDTH,
    height: Math.max((box.north - box.south) * scale, 1),
    x: (lon) => (lon - box.west) * shrink * scale,
    y: (lat) => (box.north - lat) * scale,
    contains: (lon, lat) => lon >= box.west && lon <= box.east && lat >= box.south && lat <= box.north,
  };
}

function pathOf(geometry, project) {
  return rings(geometry).map((ring) => "M" + ring.map(([lon, lat]) =>
    `${project.x(lon).toFixed(1)},${project.y(lat).toFixed(1)}`).join("L") + "Z").join("");
}

/** What a dot says (its accessible name and tooltip): "Name: 12 / 40", and the rest if any. */
export function dotTitle(v) {
  const parts = [`${v.name}: ${number(v.count)} / ${number(v.capacity)}`];
  if (v.capacity && v.count > v.capacity) parts.push(format(T.over_by, { n: number(v.count - v.capacity) }));
  if (v.paused) parts.push(T.paused_badge);
  return parts.join(" · ");
}

export class CityMap {
  constructor(element) {
    this.element = element;
    this.project = null;  // set with the districts
    this.view = null;  // the viewBox's size
    this.dots = new Map();  // venue id -> {circle, title, located: "lat,lon"}
    this.layer = svg("g", { class: "map-dots" });
  }

  /** Outline the districts and fit the map to them; false if there is none to draw. */
  setDistricts(collection) {
    const features = (collection && collection.features) || [];
    const points = features.flatMap((f) => rings(f.geometry).flat());
    this.project = points.length ? projection(bounds(points)) : null;
    this.element.replaceChildren();
    this.dots.clear();
    this.layer.replaceChildren();
    if (!this.project) return false;
    const margin = MARGIN * this.project.width;  // room for the dots of venues at the very edge
    this.view = { width: this.project.width + 2 * margin, height: this.project.height + 2 * margin };
    this.element.setAttribute("viewBox",
      `${(-margin).toFixed(0)} ${(-margin).toFixed(0)} ${this.view.width.toFixed(0)} ${this.view.height.toFixed(0)}`);
    const outlines = svg("g", { class: "map-districts" });
    const labels = svg("g", { class: "map-labels", "aria-hidden": "true" });
    for (const feature of features) {
      outlines.append(svg("path", { d: pathOf(feature.geometry, this.project), class: "district" }));
      const box = bounds(rings(feature.geometry)[0]);  // labelled at the middle of its outline
      const label = svg("text", { x: this.project.x((box.west + box.east) / 2).toFixed(1),
        y: this.project.y((box.north + box.south) / 2).toFixed(1), "text-anchor": "middle" });
      label.textContent = feature.properties.name;
      labels.append(label);
    }
    this.element.append(outlines, labels, this.layer);
    return true;
  }

  /** Put each venue's dot where it is, in its level's colour; returns how many are not shown. */
  update(venues) {
    if (!this.project) return 0;
    // Sizes in viewBox units, so that dots and labels keep their size on screen at any size (the
    // drawing is fitted into the element, limited by its width or by its height).
    const { width, height } = this.element.getBoundingClientRect();
    const perPixel = Math.max(this.view.width / (width || this.view.width),
                              this.view.height / (height || this.view.height));
    this.element.style.setProperty("--dot-r", (DOT_PX * perPixel).toFixed(2) + "px");
    this.element.style.setProperty("--label-size", (LABEL_PX * perPixel).toFixed(2) + "px");
    const seen = new Set();
    let hidden = 0;
    for (const v of venues) {
      const [lat, lon] = v.location || [];
      if (!v.location || !this.project.contains(lon, lat)) {
        hidden += 1;
        continue;
      }
      seen.add(v.id);
      this.drawDot(v, lat, lon);
    }
    for (const [id, dot] of this.dots) {
      if (!seen.has(id)) {
        dot.circle.remove();
        this.dots.delete(id);
      }
    }
    return hidden;
  }

  drawDot(v, lat, lon) {
    let dot = this.dots.get(v.id);
    if (!dot) {
      const title = svg("title");
      const circle = svg("circle", { role: "img", "data-venue": v.code, "data-testid": "map-dot" });
      circle.append(title);
      this.layer.append(circle);
      dot = { circle, title, located: "" };
      this.dots.set(v.id, dot);
    }
    const located = `${lat},${lon}`;
    if (dot.located !== located) {
      dot.circle.setAttribute("cx", this.project.x(lon).toFixed(1));
      dot.circle.setAttribute("cy", this.project.y(lat).toFixed(1));
      dot.located = located;
    }
    const over = Boolean(v.capacity && v.count > v.capacity);
    const classes = `dot level-${v.level}` + (over ? " over" : "") + (v.paused ? " paused" : "");
    if (dot.circle.getAttribute("class") !== classes) dot.circle.setAttribute("class", classes);
    const title = dotTitle(v);
    if (dot.title.textContent !== title) dot.title.textContent = title;
  }
}
