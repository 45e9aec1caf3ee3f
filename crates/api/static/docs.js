"use strict";
const $ = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) k === "text" ? e.textContent = v : e.setAttribute(k, v);
  kids.forEach(k => e.append(k));
  return e;
};
let doc;
function resolve(s) {
  while (s && s.$ref) s = s.$ref.split("/").slice(1).reduce((o, k) => o[k], doc);
  return s || {};
}
function example(s, depth = 0) {
  s = resolve(s);
  if (s.example !== undefined) return s.example;
  if (depth > 4) return null;
  const type = Array.isArray(s.type) ? s.type.find(t => t !== "null") : s.type;
  if (s.oneOf || s.anyOf) return example((s.oneOf || s.anyOf).find(x => resolve(x).type !== "null"), depth + 1);
  if (type === "object" || s.properties) {
    const o = {};
    for (const [k, v] of Object.entries(s.properties || {})) o[k] = example(v, depth + 1);
    return o;
  }
  if (type === "array") return [];
  if (type === "boolean") return false;
  if (type === "integer" || type === "number") return 0;
  return "";
}
function operation(path, method, op) {
  const params = (op.parameters || []).map(p => ({ p, input: $("input", { placeholder: p.name + " (" + p.in + ")" }) }));
  const bodySchema = op.requestBody && op.requestBody.content["application/json"].schema;
  const body = bodySchema ? $("textarea", {}, JSON.stringify(example(bodySchema), null, 2)) : null;
  const out = $("pre", { text: "" });
  const send = $("button", { text: "Send" });
  send.onclick = async () => {
    let url = path;
    const query = new URLSearchParams();
    for (const { p, input } of params) {
      if (!input.value) continue;
      if (p.in === "path") url = url.replace("{" + p.name + "}", encodeURIComponent(input.value));
      else query.set(p.name, input.value);
    }
    if ([...query].length) url += "?" + query;
    const headers = {};
    const token = document.getElementById("token").value.trim();
    if (token) headers["Authorization"] = "Bearer " + token;
    if (body) headers["Content-Type"] = "application/json";
    out.textContent = method.toUpperCase() + " " + url + " …";
    try {
      const res = await fetch(url, { method: method.toUpperCase(), headers, body: body ? body.value : undefined });
      const text = await res.text();
      let shown = text;
      try {
        const json = JSON.parse(text);
        shown = JSON.stringify(json, null, 2);
        if (json.access_token) document.getElementById("token").value = json.access_token;
      } catch (_) {}
      out.textContent = res.status + " " + res.statusText + "\n" + (res.headers.get("content-type") || "") + "\n\n" + shown;
    } catch (e) {
      out.textContent = "request failed: " + e;
    }
  };
  const codes = Object.entries(op.responses || {}).map(([c, r]) => c + " " + (r.description || "").split("\n")[0]).join("\n");
  return $("details", {},
    $("summary", { class: op.security ? "lock" : "" }, $("span", { class: "m " + method, text: method.toUpperCase() }), path + "  ", $("small", { text: op.summary || "" })),
    $("div", { class: "op" },
      $("p", { text: op.description || "" }),
      ...params.map(x => x.input), ...(body ? [body] : []), send, out,
      $("p", {}, $("b", { text: "Responses" })), $("pre", { text: codes })));
}
fetch("/api/openapi.json").then(r => r.json()).then(d => {
  doc = d;
  document.getElementById("intro").textContent = (d.info.description || "") + " OpenAPI " + d.openapi + ", version " + d.info.version + ".";
  const byTag = {};
  for (const [path, item] of Object.entries(d.paths))
    for (const [method, op] of Object.entries(item))
      (byTag[(op.tags || ["other"])[0]] ||= []).push(operation(path, method, op));
  const root = document.getElementById("ops");
  for (const t of d.tags || Object.keys(byTag).map(name => ({ name }))) {
    if (!byTag[t.name]) continue;
    root.append($("h2", { text: t.name }), $("p", { text: t.description || "" }), ...byTag[t.name]);
  }
}).catch(e => { document.getElementById("intro").textContent = "Could not read the document: " + e; });
