/* archspec's diagram page: a scene (archspec/view/scene.py) laid out by dagre and drawn as SVG.
 *
 * Inlined, with the vendored dagre, into the self-contained page of `archspec diagram -o net.html`
 * and into the live page of `archspec view`. Every text shown comes from the spec, so it is only
 * ever set with textContent or as an attribute value, never parsed as HTML.
 */
"use strict";

const ArchspecDiagram = (() => {
  const SVG = "http://www.w3.org/2000/svg";
  const FONT = "11px Helvetica, Arial, sans-serif";
  const EDGE_FONT = "9px Helvetica, Arial, sans-serif";
  const LINE = 14, PAD = 8;
  let canvas = null;

  function textWidth(text, font) {
    canvas = canvas || document.createElement("canvas").getContext("2d");
    canvas.font = font || FONT;
    return canvas.measureText(text).width;
  }

  function el(name, attrs, parent, text) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  const fmt = (n) => n.toLocaleString("en-US");
  const xy = (x, y) => `${x.toFixed(1)},${y.toFixed(1)}`;

  /* A smooth path through dagre's edge points: the uniform B-spline of d3's curveBasis. */
  function basis(pts) {
    if (pts.length < 3) return "M" + pts.map((p) => xy(p.x, p.y)).join(" L");
    const third = (a, b) => `${xy((2 * a.x + b.x) / 3, (2 * a.y + b.y) / 3)} ${xy((a.x + 2 * b.x) / 3, (a.y + 2 * b.y) / 3)}`;
    let d = `M${xy(pts[0].x, pts[0].y)} L${xy((5 * pts[0].x + pts[1].x) / 6, (5 * pts[0].y + pts[1].y) / 6)}`;
    for (let i = 2; i < pts.length; i++) {
      const [a, b, c] = [pts[i - 2], pts[i - 1], pts[i]];
      d += ` C${third(a, b)} ${xy((a.x + 4 * b.x + c.x) / 6, (a.y + 4 * b.y + c.y) / 6)}`;
    }
    const [a, b] = [pts[pts.length - 2], pts[pts.length - 1]];
    return d + ` C${third(a, b)} ${xy(b.x, b.y)}`;
  }
  const shapeText = (shape) => shape.join("x");

  /* The boxes and edges shown with `collapsed` groups drawn as one box each: the same rule as
   * visible() in archspec/view/scene.py. */
  function visibleGraph(scene, collapsed) {
    const groups = new Map(scene.groups.map((g) => [g.id, g]));
    const rep = new Map();
    const boxes = [];
    const shown = new Set();
    for (const node of scene.nodes) {
      const outer = node.scope.find((g) => collapsed.has(g));
      rep.set(node.id, outer === undefined ? "n:" + node.id : "g:" + outer);
      if (outer === undefined) {
        boxes.push(Object.assign({ key: "n:" + node.id }, node));
      } else if (!shown.has(outer)) {
        shown.add(outer);
        const scope = node.scope.slice(0, node.scope.indexOf(outer));
        boxes.push(Object.assign({}, groups.get(outer), { key: "g:" + outer, group: true, scope }));
      }
    }
    const edges = [];
    const seen = new Set();
    for (const e of scene.edges) {
      const s = rep.get(e.source), t = rep.get(e.target);
      if (s !== t && !seen.has(s + "\u0000" + t)) {
        seen.add(s + "\u0000" + t);
        edges.push({ source: s, target: t, label: e.label });
      }
    }
    return { boxes, edges };
  }

  function labelLines(box) {
    const head = box.group ? `${box.kind} block, ${box.layers} layers` : box.desc !== box.name ? box.desc : "";
    const figures = shapeText(box.shape) + (box.params ? ` · ${fmt(box.params)} params` : "");
    return [box.name, head, figures].filter((line) => line);
  }

  function boxSize(box, opts) {
    const lines = labelLines(box);
    const textW = Math.max(...lines.map((l, i) => textWidth(l, i === 0 ? "bold " + FONT : FONT))) + 2 * PAD;
    const textH = lines.length * LINE + PAD;
    const marks = box.group || !box.stages ? 0 : 2 * 9 * box.stages.length; // room for the stage squares
    if (!opts.toScale || box.group) return { w: Math.max(textW + marks, 60), h: textH, lines };
    const [across, along] = box.box;
    const horizontal = opts.rankdir === "LR" || opts.rankdir === "RL";
    const [bw, bh] = horizontal ? [along, across] : [across, along];
    if (horizontal) return { w: Math.max(bw, textW), h: bh + 2 * textH, lines, tensor: [bw, bh], below: true };
    return { w: bw + 2 * textW, h: Math.max(bh, textH), lines, tensor: [bw, bh] };
  }

  function trainsIn(box, stage) {
    if (stage === null || stage === undefined || box.group || !box.stages || !box.stages.length) return box.trainable;
    return box.stages[stage];
  }

  function render(container, scene, opts) {
    opts = Object.assign({ rankdir: "TB", toScale: false, stage: null, collapsed: [] }, opts || {});
    const state = { collapsed: new Set(opts.collapsed), selected: null, opts };

    function draw() {
      const { boxes, edges } = visibleGraph(scene, state.collapsed);
      const g = new dagre.graphlib.Graph({ compound: true });
      g.setGraph({ rankdir: opts.rankdir, nodesep: 24, ranksep: 40, edgesep: 12, marginx: 16, marginy: 16 });
      g.setDefaultEdgeLabel(() => ({}));
      const groups = new Map(scene.groups.map((gr) => [gr.id, gr]));
      for (const box of boxes) {
        const size = boxSize(box, opts);
        g.setNode(box.key, { width: size.w, height: size.h, box, size });
        box.scope.forEach((s, i) => {
          if (!g.hasNode("g:" + s)) g.setNode("g:" + s, { cluster: groups.get(s) });
          if (i > 0) g.setParent("g:" + s, "g:" + box.scope[i - 1]);
        });
        if (box.scope.length) g.setParent(box.key, "g:" + box.scope[box.scope.length - 1]);
      }
      const labelled = new Set();
      for (const e of edges) {
        const label = labelled.has(e.source) ? "" : e.label;
        labelled.add(e.source);
        const size = label ? { width: textWidth(label, EDGE_FONT) + 4, height: 12, labelpos: "r", labeloffset: 4 } : {};
        g.setEdge(e.source, e.target, Object.assign({ label }, size));
      }
      dagre.layout(g);
      const info = g.graph();
      const svg = el("svg", {
        xmlns: SVG, width: Math.ceil(info.width), height: Math.ceil(info.height),
        viewBox: `0 0 ${Math.ceil(info.width)} ${Math.ceil(info.height)}`, class: "archspec-diagram",
      });
      const defs = el("defs", {}, svg);
      const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7,
        markerHeight: 7, orient: "auto-start-reverse" }, defs);
      el("path", { d: "M0,0 L10,5 L0,10 z", fill: "#555" }, marker);
      drawGroups(svg, g);
      for (const e of g.edges()) drawEdge(svg, g.edge(e), g.node(e.v), g.node(e.w));
      for (const key of g.nodes()) if (!g.node(key).cluster) drawBox(svg, g.node(key));
      container.replaceChildren(svg);
      container.dataset.nodes = String(boxes.length);
      if (state.selected) highlight(state.selected);
    }

    function drawGroups(svg, g) {
      const clusters = g.nodes().filter((k) => g.node(k).cluster).map((k) => g.node(k));
      clusters.sort((a, b) => a.cluster.depth - b.cluster.depth);
      for (const c of clusters) {
        const grp = el("g", { class: "group", "data-name": c.cluster.name }, svg);
        const x = c.x - c.width / 2, y = c.y - c.height / 2;
        el("rect", { x, y, width: c.width, height: c.height, rx: 8 }, grp);
        const head = el("text", { x: x + 6, y: y + 11, class: "group-label" }, grp,
          `▾ ${c.cluster.name} (${c.cluster.kind})`);
        head.addEventListener("click", (ev) => { ev.stopPropagation(); toggle(c.cluster.id); });
        el("title", {}, head, "collapse this block into one box");
      }
    }

    /* A tensor drawn to scale: the edge meets its box, not the label beside it. */
    function meet(point, n, sign) {
      if (!n.size.tensor) return point;
      const [bw, bh] = n.size.tensor;
      const horizontal = opts.rankdir === "LR" || opts.rankdir === "RL";
      const flip = opts.rankdir === "BT" || opts.rankdir === "RL" ? -1 : 1;
      return horizontal ? { x: n.x + sign * flip * bw / 2, y: n.y } : { x: n.x, y: n.y + sign * flip * bh / 2 };
    }

    function drawEdge(svg, e, from, to) {
      e.points[0] = meet(e.points[0], from, 1);
      e.points[e.points.length - 1] = meet(e.points[e.points.length - 1], to, -1);
      el("path", { d: basis(e.points), class: "edge", "marker-end": "url(#arrow)" }, svg);
      if (e.label) el("text", { x: e.x - e.width / 2 + 2, y: e.y + 3, class: "edge-label" }, svg, e.label);
    }

    function drawBox(svg, n) {
      const box = n.box, size = n.size;
      const trains = trainsIn(box, opts.stage);
      const classes = ["node"];
      if (box.group) classes.push("group-box");
      if (!trains) classes.push("frozen");
      if (box.output) classes.push("output");
      if (box.type === "input") classes.push("input");
      const grp = el("g", { class: classes.join(" "), "data-name": box.name, "data-key": box.key }, svg);
      const x = n.x - n.width / 2, y = n.y - n.height / 2;
      const lines = size.lines;
      if (size.tensor) {
        const [bw, bh] = size.tensor;
        el("rect", { x: n.x - bw / 2, y: n.y - bh / 2, width: bw, height: bh, class: "tensor" }, grp);
        lines.forEach((line, i) => el("text", size.below
          ? { x: n.x, y: n.y + bh / 2 + (i + 1) * LINE, "text-anchor": "middle", class: i ? "" : "name" }
          : { x: n.x + bw / 2 + PAD, y: n.y - (lines.length * LINE) / 2 + (i + 1) * LINE - 3, class: i ? "" : "name" },
        grp, line));
      } else {
        if (box.group) el("rect", { x: x + 3, y: y + 3, width: n.width, height: n.height, rx: 4, class: "stack" }, grp);
        const rx = box.type === "input" ? n.height / 2 : 4;
        el("rect", { x, y, width: n.width, height: n.height, rx, class: "box" }, grp);
        lines.forEach((line, i) => el("text", { x: n.x, y: y + PAD / 2 + (i + 1) * LINE - 3,
          "text-anchor": "middle", class: i ? "" : "name" }, grp, line));
        (box.group ? [] : box.stages || []).forEach((on, i, all) => el("rect", {
          x: x + n.width - 9 * (all.length - i) - 2, y: y + 3, width: 7, height: 7,
          class: on ? "stage on" : "stage" }, grp));
      }
      grp.addEventListener("click", () => {
        if (box.group) toggle(box.id);
        select(box.key);
      });
    }

    function highlight(key) {
      for (const node of container.querySelectorAll("g.node.selected")) node.classList.remove("selected");
      const node = [...container.querySelectorAll("g.node")].find((n) => n.dataset.key === key);
      if (node) node.classList.add("selected");
    }

    function select(key) {
      state.selected = key;
      highlight(key);
      const [kind, id] = [key.slice(0, 1), key.slice(2)];
      const item = kind === "g" ? scene.groups.find((g) => g.id === id) : scene.nodes.find((n) => n.id === id);
      if (item && opts.onSelect) opts.onSelect(item, kind === "g");
    }

    function toggle(id) {
      if (state.collapsed.has(id)) state.collapsed.delete(id);
      else state.collapsed.add(id);
      draw();
    }

    draw();
    return {
      state,
      toggle,
      select,
      redraw: draw,
      collapseAll() { scene.groups.filter((g) => g.depth === 0).forEach((g) => state.collapsed.add(g.id)); draw(); },
      expandAll() { state.collapsed.clear(); draw(); },
      setStage(stage) { opts.stage = stage; draw(); },
      setScale(on) { opts.toScale = on; draw(); },
    };
  }

  return { render, visibleGraph, labelLines, fmt, shapeText };
})();

/* The page around the diagram: controls, details of the selected layer, summary table, and
 * (for `archspec view`) the live link to the server. */
const ArchspecPage = (() => {
  const $ = (id) => document.getElementById(id);
  const fmt = ArchspecDiagram.fmt;
  let view = null;
  let scene = null;

  function h(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  function showDetails(item, isGroup) {
    const box = $("details");
    box.replaceChildren();
    box.appendChild(h("h2", item.name));
    const rows = isGroup
      ? [["block", item.kind], ["layers", fmt(item.layers)], ["output shape", item.shape.join(" x ")],
        ["params", fmt(item.params)], ["MACs", fmt(item.macs)], ["trainable", item.trainable ? "yes" : "no (frozen)"]]
      : [["type", item.type], ["layer", item.desc], ["output shape", item.shape.join(" x ")],
        ["params", fmt(item.params)], ["trainable params", fmt(item.trainable_params)],
        ["non-trainable params", fmt(item.non_trainable_params)], ["MACs", fmt(item.macs)],
        ["receptive field", item.rf ? item.rf.join(" x ") : "-"], ["trainable", item.trainable ? "yes" : "no (frozen)"]];
    (item.stages || []).forEach((on, i) => rows.push([`stage ${i + 1} (${scene.stages[i].name})`, on ? "trains" : "frozen"]));
    const table = h("table", undefined, "figures");
    for (const [k, v] of rows) {
      const tr = table.insertRow();
      tr.dataset.key = k;
      tr.appendChild(h("th", k));
      tr.appendChild(h("td", String(v)));
    }
    box.appendChild(table);
    for (const note of item.notes || []) box.appendChild(h("p", note, "note"));
    if (item.line) {
      const where = h("div", undefined, "source");
      where.appendChild(h("span", `line ${item.line}`, "lineno"));
      where.appendChild(h("code", item.line_text === null ? "" : item.line_text));
      box.appendChild(where);
    } else if (item.type !== "input") {
      box.appendChild(h("p", "made by a block or base defined outside this file", "note"));
    }
  }

  function summaryTable(sc) {
    const table = $("table");
    table.replaceChildren();
    const head = table.createTHead().insertRow();
    for (const c of ["Layer (type)", "Output shape", "Params", "MACs", "RF"]) head.appendChild(h("th", c));
    const body = table.createTBody();
    for (const n of sc.nodes.slice(1)) {
      const tr = body.insertRow();
      tr.dataset.name = n.name;
      if (!n.trainable) tr.className = "frozen";
      tr.appendChild(h("td", `${n.name} (${n.type})` + (n.trainable ? "" : " [frozen]")));
      tr.appendChild(h("td", n.shape.join(" x ")));
      tr.appendChild(h("td", fmt(n.params)));
      tr.appendChild(h("td", fmt(n.macs)));
      tr.appendChild(h("td", n.rf ? String(n.rf[0]) : ""));
      tr.addEventListener("click", () => { view.select("n:" + n.id); });
    }
    const t = sc.totals;
    $("totals").textContent = `${fmt(t.layer_count)} layers · ${fmt(t.total_params)} params ` +
      `(${fmt(t.trainable_params)} trainable, ${fmt(t.non_trainable_params)} non-trainable) · ${fmt(t.macs)} MACs`;
  }

  function stageControl(sc) {
    const select = $("stage");
    const kept = select.value;  // a redraw after a save keeps the stage being looked at
    select.replaceChildren(h("option", "as written"));
    select.firstChild.value = "";
    sc.stages.forEach((s, i) => {
      const o = h("option", `${i + 1}. ${s.name}: ${fmt(s.trainable_params)} trainable`);
      o.value = String(i);
      select.appendChild(o);
    });
    select.value = kept !== "" && Number(kept) < sc.stages.length ? kept : "";
    select.parentElement.hidden = !sc.stages.length;
  }

  let shown = null;

  function show(sc, opts) {
    const text = JSON.stringify(sc);
    if (text === shown) return;  // a save that changed nothing drawn: keep the page as it is
    shown = text;
    const previous = view ? view.state : null;
    scene = sc;
    $("title").textContent = sc.title;
    $("collapse").hidden = $("expand").hidden = !sc.groups.length;  // a net without blocks has nothing to fold
    stageControl(sc);
    const stage = $("stage").value === "" ? null : Number($("stage").value);
    view = ArchspecDiagram.render($("diagram"), sc, Object.assign({}, opts, {
      onSelect: showDetails, stage, toScale: $("to-scale").checked,
      collapsed: previous ? [...previous.collapsed] : opts.collapsed || [],
    }));
    if (previous && previous.selected) view.select(previous.selected);
    summaryTable(sc);
  }

  function wire() {
    $("collapse").addEventListener("click", () => view.collapseAll());
    $("expand").addEventListener("click", () => view.expandAll());
    $("to-scale").addEventListener("change", (ev) => view.setScale(ev.target.checked));
    $("stage").addEventListener("change", (ev) => view.setStage(ev.target.value === "" ? null : Number(ev.target.value)));
  }

  /* The self-contained page of `archspec diagram -o net.html`. */
  function initStatic(data) {
    wire();
    $("to-scale").checked = !!data.options.toScale;
    show(data.scene, data.options);
  }

  /* The live page of `archspec view`: state from /api/state, told of every save by /events. */
  function initLive(data) {
    wire();
    let version = -1;
    let wanted = data.initial.variant || "";
    $("sets").value = (data.initial.sets || []).join("\n");
    const controls = () => {
      const q = new URLSearchParams();
      const variant = $("variant").options.length ? $("variant").value : wanted;
      if (variant) q.append("variant", variant);
      for (const line of $("sets").value.split("\n")) if (line.trim()) q.append("set", line.trim());
      return q;
    };
    async function refresh() {
      let state;
      try {
        const response = await fetch("/api/state?" + controls().toString(), { cache: "no-store" });
        state = await response.json();
      } catch (err) {
        $("status").textContent = "server not reachable";
        return;
      }
      if (state.scene) show(state.scene, data.options);
      variants(state.variants);
      problems(state.problems);
      version = state.version;
      document.body.dataset.version = String(version);
      document.body.dataset.ok = state.problems.length ? "false" : "true";
      $("status").textContent = (state.problems.length ? "problems found, showing the last good picture · " : "") +
        `updated ${new Date().toLocaleTimeString()}`;
    }
    function variants(names) {
      const select = $("variant");
      const current = select.value;
      if ([...select.options].map((o) => o.value).join() === ["", ...names].join()) return;
      select.replaceChildren(h("option", "as written"));
      select.firstChild.value = "";
      for (const n of names) { const o = h("option", n); o.value = n; select.appendChild(o); }
      select.value = names.includes(current || wanted) ? current || wanted : "";
      wanted = "";
      select.parentElement.hidden = !names.length;
    }
    function problems(list) {
      const box = $("problems");
      box.replaceChildren();
      box.hidden = !list.length;
      for (const p of list) {
        const item = h("div", undefined, "problem");
        item.appendChild(h("span", p.line ? `line ${p.line}:${p.column}` : p.file, "lineno"));
        item.appendChild(h("span", " " + p.message));
        if (p.line_text !== null && p.line_text !== undefined) item.appendChild(h("code", p.line_text));
        box.appendChild(item);
      }
    }
    $("variant").addEventListener("change", refresh);
    $("apply").addEventListener("click", refresh);
    const events = new EventSource("/events");
    events.onmessage = refresh;
    events.onerror = () => { $("status").textContent = "reconnecting to archspec view..."; };
    refresh();
  }

  return { initStatic, initLive };
})();
