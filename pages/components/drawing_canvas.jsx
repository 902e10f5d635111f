// The drawing editor of medical records: react-konva (MIT) on a background image.
//
// Everything a stroke needs happens in the browser; the server only receives the drawing as
// JSON in the record's format (lines, shapes, stageSize, background…) through `onChange`,
// at most every 2 s while drawing and at once when the page is hidden or the editor loses
// focus. `revision` changes when the server sends another version (a reload, or the user
// picked "theirs" after a conflict): the editor then shows that version.
import React, { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Stage, Layer, Line, Circle, Rect, Arrow, Text, Image as KImage, Transformer } from "react-konva";

const TOOLS = [
  ["select", "Select / move"],
  ["pen", "Pen"],
  ["eraser", "Eraser"],
  ["circle", "Circle"],
  ["rect", "Rectangle"],
  ["arrow", "Arrow"],
  ["text", "Text"],
  ["pan", "Pan"],
];
const COLORS = ["#d32f2f", "#1565c0", "#2e7d32", "#f9a825", "#111827"];
const WIDTHS = [2, 4, 8];
const SAVE_EVERY_MS = 2000;

function useImage(url) {
  const [image, setImage] = useState(null);
  useEffect(() => {
    if (!url) {
      setImage(null);
      return;
    }
    const img = new window.Image();
    img.onload = () => setImage(img);
    img.src = url;
  }, [url]);
  return image;
}

function parse(value) {
  try {
    const data = typeof value === "string" ? JSON.parse(value || "{}") : value || {};
    return {
      lines: data.lines || [],
      shapes: data.shapes || [],
      stageSize: data.stageSize || { width: 600, height: 800 },
      backgroundType: data.backgroundType || "none",
      backgroundFileId: data.backgroundFileId ?? null,
      pdfPageNumber: data.pdfPageNumber ?? null,
      pdfNumPages: data.pdfNumPages ?? null,
    };
  } catch (e) {
    return { lines: [], shapes: [], stageSize: { width: 600, height: 800 }, backgroundType: "none",
      backgroundFileId: null, pdfPageNumber: null, pdfNumPages: null };
  }
}

const round = (n) => Math.round(n * 10) / 10;

export default function DrawingCanvas({ value, revision, backgroundUrl, readOnly, onChange, width }) {
  const [doc, setDoc] = useState(() => parse(value));
  const [past, setPast] = useState([]);
  const [future, setFuture] = useState([]);
  const [tool, setTool] = useState("pen");
  const [color, setColor] = useState(COLORS[0]);
  const [strokeWidth, setStrokeWidth] = useState(4);
  const [selected, setSelected] = useState(null);
  const [zoom, setZoom] = useState(1);
  const [pan, setPan] = useState({ x: 0, y: 0 });
  const drawing = useRef(null);
  const dirty = useRef(false);
  const timer = useRef(null);
  const docRef = useRef(doc);
  const stageRef = useRef(null);
  const trRef = useRef(null);
  const background = useImage(backgroundUrl);
  docRef.current = doc;

  // A new server version replaces what is shown (never while the user has unsent strokes).
  useEffect(() => {
    if (!dirty.current) {
      setDoc(parse(value));
      setPast([]);
      setFuture([]);
    }
  }, [revision]);

  const flush = useCallback(() => {
    if (timer.current) {
      clearTimeout(timer.current);
      timer.current = null;
    }
    if (dirty.current && onChange) {
      dirty.current = false;
      onChange(JSON.stringify(docRef.current));
    }
  }, [onChange]);

  const schedule = useCallback(() => {
    dirty.current = true;
    if (!timer.current) {
      timer.current = setTimeout(() => {
        timer.current = null;
        flush();
      }, SAVE_EVERY_MS);
    }
  }, [flush]);

  useEffect(() => {
    const hidden = () => {
      if (document.visibilityState === "hidden") flush();
    };
    const leaving = (e) => {
      if (dirty.current) {
        flush();
        e.preventDefault();
        e.returnValue = "";
      }
    };
    document.addEventListener("visibilitychange", hidden);
    window.addEventListener("beforeunload", leaving);
    if (!readOnly) window.ClinicDrawing = { flush, isDirty: () => dirty.current };
    return () => {
      document.removeEventListener("visibilitychange", hidden);
      window.removeEventListener("beforeunload", leaving);
    };
  }, [flush]);

  // History updaters run later, during the next render: capture the document now.
  const commit = useCallback(
    (next) => {
      const before = docRef.current;
      setPast((p) => [...p.slice(-99), before]);
      setFuture([]);
      setDoc(next);
      docRef.current = next;
      schedule();
    },
    [schedule],
  );

  const undo = () => {
    if (!past.length) return;
    const current = docRef.current;
    setFuture((f) => [current, ...f]);
    const prev = past[past.length - 1];
    setPast(past.slice(0, -1));
    setDoc(prev);
    docRef.current = prev;
    schedule();
  };
  const redo = () => {
    if (!future.length) return;
    const current = docRef.current;
    setPast((p) => [...p, current]);
    const next = future[0];
    setFuture(future.slice(1));
    setDoc(next);
    docRef.current = next;
    schedule();
  };
  const removeSelected = () => {
    if (!selected) return;
    commit({ ...docRef.current, shapes: docRef.current.shapes.filter((s) => s.id !== selected) });
    setSelected(null);
  };

  useEffect(() => {
    const keys = (e) => {
      if (readOnly || ["INPUT", "TEXTAREA"].includes(document.activeElement?.tagName)) return;
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "z") {
        e.preventDefault();
        e.shiftKey ? redo() : undo();
      } else if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "y") {
        e.preventDefault();
        redo();
      } else if ((e.key === "Delete" || e.key === "Backspace") && selected) {
        e.preventDefault();
        removeSelected();
      }
    };
    window.addEventListener("keydown", keys);
    return () => window.removeEventListener("keydown", keys);
  });

  useEffect(() => {
    const tr = trRef.current;
    const stage = stageRef.current;
    if (!tr || !stage) return;
    const node = selected ? stage.findOne("#" + selected) : null;
    tr.nodes(node ? [node] : []);
    tr.getLayer()?.batchDraw();
  }, [selected, doc]);

  const size = doc.stageSize;
  const fit = Math.min(1, (width || size.width) / size.width);
  const scale = fit * zoom;

  const pointer = () => {
    const stage = stageRef.current;
    const p = stage.getPointerPosition();
    return { x: round((p.x - pan.x) / scale), y: round((p.y - pan.y) / scale) };
  };

  const down = (e) => {
    if (readOnly) return;
    if (tool === "select") {
      const id = e.target?.attrs?.id;
      setSelected(id && id.startsWith("s") ? id : null);
      return;
    }
    if (tool === "pan") return;
    const p = pointer();
    const id = "s" + Date.now().toString(36) + Math.floor(Math.random() * 1e4).toString(36);
    const base = { color, strokeWidth };
    if (tool === "pen" || tool === "eraser") {
      drawing.current = { kind: "line", line: { tool, points: [p.x, p.y], ...base } };
    } else if (tool === "circle") {
      drawing.current = { kind: "shape", shape: { id, type: "circle", x: p.x, y: p.y, radius: 0, ...base } };
    } else if (tool === "rect") {
      drawing.current = { kind: "shape", start: p, shape: { id, type: "rect", x: p.x, y: p.y, width: 0, height: 0, ...base } };
    } else if (tool === "arrow") {
      drawing.current = { kind: "shape", shape: { id, type: "arrow", x: p.x, y: p.y, points: [0, 0, 0, 0], ...base } };
    } else if (tool === "text") {
      const text = window.prompt("Text to place on the drawing:");
      if (text && text.trim()) {
        commit({ ...docRef.current, shapes: [...docRef.current.shapes, { id, type: "text", x: p.x, y: p.y, text: text.trim().slice(0, 500), fontSize: 18, ...base }] });
      }
      return;
    }
    setDoc({ ...docRef.current });
  };

  const move = () => {
    const current = drawing.current;
    if (!current) return;
    const p = pointer();
    if (current.kind === "line") {
      current.line = { ...current.line, points: [...current.line.points, p.x, p.y] };
    } else {
      const s = current.shape;
      if (s.type === "circle") current.shape = { ...s, radius: round(Math.hypot(p.x - s.x, p.y - s.y)) };
      if (s.type === "rect") {
        const a = current.start;
        current.shape = { ...s, x: Math.min(a.x, p.x), y: Math.min(a.y, p.y), width: round(Math.abs(p.x - a.x)), height: round(Math.abs(p.y - a.y)) };
      }
      if (s.type === "arrow") current.shape = { ...s, points: [0, 0, round(p.x - s.x), round(p.y - s.y)] };
    }
    setDoc({ ...docRef.current });
  };

  const up = () => {
    const current = drawing.current;
    drawing.current = null;
    if (!current) return;
    const d = docRef.current;
    if (current.kind === "line") {
      const pts = current.line.points.length >= 4 ? current.line.points : [...current.line.points, ...current.line.points];
      commit({ ...d, lines: [...d.lines, { ...current.line, points: pts }] });
    } else {
      const s = current.shape;
      const tiny = (s.type === "circle" && s.radius < 2) || (s.type === "rect" && s.width < 2 && s.height < 2)
        || (s.type === "arrow" && Math.hypot(s.points[2], s.points[3]) < 3);
      if (!tiny) commit({ ...d, shapes: [...d.shapes, s] });
      else setDoc({ ...d });
    }
  };

  const wheel = (e) => {
    e.evt.preventDefault();
    const factor = e.evt.deltaY > 0 ? 1 / 1.1 : 1.1;
    setZoom((z) => Math.min(8, Math.max(0.25, z * factor)));
  };

  const dragShape = (id) => (e) => {
    const d = docRef.current;
    commit({ ...d, shapes: d.shapes.map((s) => (s.id === id ? { ...s, x: round(e.target.x()), y: round(e.target.y()) } : s)) });
  };

  const live = drawing.current;
  const lines = live && live.kind === "line" ? [...doc.lines, live.line] : doc.lines;
  const shapes = live && live.kind === "shape" ? [...doc.shapes, live.shape] : doc.shapes;
  const canDrag = tool === "select" && !readOnly;

  const shapeNode = (s) => {
    const common = { key: s.id, id: s.id, stroke: s.color, strokeWidth: s.strokeWidth, draggable: canDrag, onDragEnd: dragShape(s.id) };
    if (s.type === "circle") return <Circle {...common} x={s.x} y={s.y} radius={s.radius} />;
    if (s.type === "rect") return <Rect {...common} x={s.x} y={s.y} width={s.width} height={s.height} />;
    if (s.type === "arrow") return <Arrow {...common} x={s.x} y={s.y} points={s.points} fill={s.color} pointerLength={10} pointerWidth={10} />;
    if (s.type === "text") return <Text {...common} x={s.x} y={s.y} text={s.text} fontSize={s.fontSize || 18} fill={s.color} strokeWidth={0} fontFamily="DejaVu Sans, sans-serif" />;
    return null;
  };

  const button = (active) => ({
    padding: "4px 8px", borderRadius: 6, cursor: "pointer", fontSize: 13,
    border: active ? "2px solid #0d9488" : "1px solid #d1d5db", background: active ? "#ccfbf1" : "white",
  });

  return (
    <div data-testid="drawing-editor" onBlur={flush} tabIndex={-1} style={{ outline: "none" }}>
      {!readOnly && (
        <div style={{ display: "flex", flexWrap: "wrap", gap: 6, marginBottom: 8, alignItems: "center" }}>
          {TOOLS.map(([key, label]) => (
            <button key={key} type="button" title={label} aria-label={label} aria-pressed={tool === key}
              data-testid={"tool-" + key} style={button(tool === key)} onClick={() => { setTool(key); setSelected(null); }}>
              {label}
            </button>
          ))}
          <span style={{ width: 8 }} />
          {COLORS.map((c) => (
            <button key={c} type="button" aria-label={"Colour " + c} data-testid={"color-" + c.slice(1)}
              onClick={() => setColor(c)} style={{ ...button(color === c), width: 26, height: 26, background: c }} />
          ))}
          {WIDTHS.map((w) => (
            <button key={w} type="button" aria-label={"Stroke " + w} style={button(strokeWidth === w)} onClick={() => setStrokeWidth(w)}>
              {w}px
            </button>
          ))}
          <span style={{ width: 8 }} />
          <button type="button" style={button(false)} onClick={undo} disabled={!past.length} data-testid="tool-undo" aria-label="Undo">Undo</button>
          <button type="button" style={button(false)} onClick={redo} disabled={!future.length} data-testid="tool-redo" aria-label="Redo">Redo</button>
          <button type="button" style={button(false)} onClick={removeSelected} disabled={!selected} data-testid="tool-delete" aria-label="Delete selected shape">Delete</button>
          <button type="button" style={button(false)} onClick={() => setZoom((z) => Math.min(8, z * 1.25))} aria-label="Zoom in">+</button>
          <button type="button" style={button(false)} onClick={() => setZoom((z) => Math.max(0.25, z / 1.25))} aria-label="Zoom out">−</button>
          <button type="button" style={button(false)} onClick={() => { setZoom(1); setPan({ x: 0, y: 0 }); }} aria-label="Reset view">Fit</button>
        </div>
      )}
      <div style={{ border: "1px solid #e5e7eb", borderRadius: 8, overflow: "hidden", width: size.width * fit, maxWidth: "100%", touchAction: "none", background: "white" }}>
        <Stage ref={stageRef} width={size.width * fit} height={size.height * fit} scaleX={scale} scaleY={scale}
          x={pan.x} y={pan.y} draggable={tool === "pan"} onDragEnd={(e) => { if (e.target === stageRef.current) setPan({ x: e.target.x(), y: e.target.y() }); }}
          onPointerDown={down} onPointerMove={move} onPointerUp={up} onPointerLeave={up} onWheel={wheel}
          data-testid="drawing-stage" style={{ cursor: tool === "pan" ? "grab" : tool === "select" ? "default" : "crosshair" }}>
          <Layer listening={false}>
            {background ? <KImage image={background} width={size.width} height={size.height} /> : <Rect width={size.width} height={size.height} fill="white" />}
          </Layer>
          <Layer>
            {lines.map((l, i) => (
              <Line key={"l" + i} points={l.points} stroke={l.color} strokeWidth={l.strokeWidth} lineCap="round" lineJoin="round"
                tension={0} listening={false} globalCompositeOperation={l.tool === "eraser" ? "destination-out" : "source-over"} />
            ))}
            {shapes.map(shapeNode)}
            <Transformer ref={trRef} rotateEnabled={false} resizeEnabled={false} />
          </Layer>
        </Stage>
      </div>
    </div>
  );
}
