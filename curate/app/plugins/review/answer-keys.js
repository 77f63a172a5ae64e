// The review plugin's one component, CurateAnswerFace: the face of the *Answer faces* panel
// (curate/app/answering.py) drawn large, and its keys. A Python panel gets clicks and form
// changes but no key presses: while this component is mounted it listens for keydown on the
// window and sends each key it knows (the panel's `keys`) to the panel's `on_key` method, the
// same method the buttons call. Plain JavaScript on the App's own globals (React and the
// @fiftyone packages it exposes to plugins): no build step.
(function () {
  "use strict";
  const React = window.React;
  const plugins = window.__fop__;
  const operators = window.__foo__;
  const spaces = window.__fosp__;
  if (!React || !plugins || !operators || !spaces) {
    console.error("curate review plugin: the App's plugin globals are missing");
    return;
  }
  const h = React.createElement;
  const RELEASE_MS = 4000; // a key whose answer never came back stops blocking the next

  function typing(target) {
    const tag = (target && target.tagName) || "";
    return /^(INPUT|TEXTAREA|SELECT)$/.test(tag) || (target && target.isContentEditable);
  }

  function AnswerFace(props) {
    const view = (props.schema && props.schema.view) || {};
    const panelId = spaces.usePanelId();
    const trigger = operators.usePanelEvent();
    const latest = React.useRef(view);
    const busy = React.useRef(0);
    latest.current = view;
    React.useEffect(() => { busy.current = 0; }, [view.face, view.seq]);
    React.useEffect(() => {
      function onKey(event) {
        if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
        const v = latest.current;
        const key = (event.key || "").toLowerCase();
        if (!v.on_key || (v.keys || []).indexOf(key) < 0) return;
        event.preventDefault();
        event.stopPropagation();
        if (busy.current && Date.now() - busy.current < RELEASE_MS) return; // one at a time
        busy.current = Date.now();
        trigger(panelId, { operator: v.on_key, params: { key: key, face: v.face || "" },
                           callback: () => { busy.current = 0; } });
      }
      window.addEventListener("keydown", onKey, true);
      return () => window.removeEventListener("keydown", onKey, true);
    }, [panelId, trigger]);
    if (!view.src) {
      return h("div", { "data-cy": "curate-answer-done", style: { padding: 16 } },
               view.empty || "");
    }
    return h("div", { style: { display: "flex", justifyContent: "center", padding: 8 } },
      h("img", { src: view.src, alt: "the face to answer", "data-cy": "curate-answer-face",
                 "data-face": view.face, "data-seq": view.seq,
                 style: { height: "min(55vh, 520px)", aspectRatio: "1 / 1",
                          objectFit: "contain", imageRendering: "pixelated",
                          background: "#000", borderRadius: 4 } }));
  }

  plugins.registerComponent({
    name: "CurateAnswerFace",
    label: "CurateAnswerFace",
    component: AnswerFace,
    type: plugins.PluginComponentType.Component,
    activator: () => true,
  });
})();
