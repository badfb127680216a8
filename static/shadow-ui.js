// Where the dev server draws on a page (reload.js's badge, overlay and "threads" button, the
// thread inspector): a <wbspawn-ui> element with a shadow root and its own stylesheet, so the
// app's CSS and ours do not mix.
export function shadowHost(id, stylesheet) {
  const host = document.createElement("wbspawn-ui");
  host.id = id;
  const root = host.attachShadow({ mode: "open" });
  const style = document.createElement("link");
  style.rel = "stylesheet";
  style.href = stylesheet;
  root.append(style);
  return { host, root };
}
