// The registry's dashboard: list the agents, then follow the watch from the list's revision.
// Every value from a record reaches the page through textContent or an attribute, never as
// markup. The token, if any, lives in sessionStorage and travels in a header, never in a URL.

const TOKEN_KEY = "mcp-mesh-token";
const EVENTS_KEPT = 20;
const RETRY_MS = 1000;
const GRAPH_DELAY_MS = 300;
const SVG = "http://www.w3.org/2000/svg";

const state = {
  agents: new Map(), // "namespace/name" -> agent
  events: new Map(), // "namespace/name" -> recent events, newest first
  revision: "",
  filters: { namespace: "", selector: "", capability: "", phase: "" },
  sort: "name",
  selected: null,
  watch: null, // the AbortController of the open watch
  generation: 0, // bumped at each relist: older streams stop applying events
  selfPreservation: false,
  providers: new Map(), // dependency key -> provider keys, best first
};

const $ = (id) => document.getElementById(id);

// -- talking to the registry ----------------------------------------------------------------

function headers() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

class RegistryError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...headers(), ...(options.headers || {}) } });
  if (!response.ok) {
    throw new RegistryError(response.status, await messageOf(response));
  }
  return response;
}

async function messageOf(response) {
  try {
    const body = await response.json();
    return body.message || body.error || `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

function collection() {
  const ns = state.filters.namespace.trim();
  return ns ? `/api/v1/namespaces/${encodeURIComponent(ns)}/agents` : "/api/v1/agents";
}

function query(extra = {}) {
  const params = new URLSearchParams();
  const { selector, capability, phase } = state.filters;
  if (selector.trim()) params.set("labelSelector", selector.trim());
  if (capability.trim()) params.set("capability", capability.trim());
  if (phase) params.set("phase", phase);
  for (const [key, value] of Object.entries(extra)) params.set(key, value);
  return params.toString();
}

// -- list, then watch -----------------------------------------------------------------------

async function relist() {
  const generation = ++state.generation;
  if (state.watch) state.watch.abort();
  try {
    const list = await (await api(`${collection()}?${query()}`)).json();
    if (generation !== state.generation) return;
    state.agents = new Map(list.items.map((agent) => [keyOf(agent), agent]));
    state.revision = list.metadata.resourceVersion;
    clearProblem();
    render();
    refreshHealth();
    watch(generation);
  } catch (error) {
    if (generation !== state.generation) return;
    trouble(error);
    if (!(error instanceof RegistryError) || error.status >= 500) {
      setTimeout(() => generation === state.generation && relist(), RETRY_MS);
    }
  }
}

async function watch(generation) {
  const controller = new AbortController();
  state.watch = controller;
  connection("live");
  try {
    const path = `${collection()}?${query({ watch: "true", resourceVersion: state.revision })}`;
    const response = await api(path, { signal: controller.signal });
    await readEvents(response.body, generation);
    if (generation === state.generation) reconnect(generation); // the stream ended
  } catch (error) {
    if (controller.signal.aborted || generation !== state.generation) return;
    if (error instanceof RegistryError && error.status === 410) {
      relist(); // the revision left the history: list again
    } else if (error instanceof RegistryError && error.status < 500) {
      trouble(error);
    } else {
      reconnect(generation);
    }
  }
}

function reconnect(generation) {
  connection("reconnecting");
  setTimeout(() => generation === state.generation && watch(generation), RETRY_MS);
}

async function readEvents(body, generation) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let carry = ""; // a CR at the end of a chunk: its LF may start the next one
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    let text = carry + value;
    carry = text.endsWith("\r") ? "\r" : "";
    if (carry) text = text.slice(0, -1);
    buffer += text.replace(/\r\n?/g, "\n"); // SSE allows CRLF, CR or LF line ends
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (generation !== state.generation) return;
      apply(parseEvent(block));
    }
  }
}

function parseEvent(block) {
  const event = { type: "message", data: [] };
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event.type = value;
    else if (field === "data") event.data.push(value);
  }
  return event;
}

function apply(event) {
  if (!event.data.length) return;
  const object = JSON.parse(event.data.join("\n"));
  if (event.type === "BOOKMARK") {
    state.revision = object.metadata.resourceVersion;
    refreshHealth();
    refreshHeartbeats();
    return;
  }
  if (event.type === "ERROR") {
    relist(); // the watch fell behind, or its revision left the history
    return;
  }
  const key = keyOf(object);
  state.revision = object.metadata.resourceVersion;
  if (event.type === "DELETED") state.agents.delete(key);
  else state.agents.set(key, object);
  remember(key, event.type, object);
  render();
}

function remember(key, type, agent) {
  const kept = state.events.get(key) || [];
  kept.unshift({ type, at: new Date(), phase: agent.status?.phase, revision: agent.metadata.resourceVersion });
  state.events.set(key, kept.slice(0, EVENTS_KEPT));
}

async function refreshHeartbeats() {
  // A heartbeat changes no revision, so no event tells of it: when the watch is quiet (a
  // BOOKMARK), the times are read again. Phase changes, which matter, come as events.
  const generation = state.generation;
  try {
    const list = await (await api(`${collection()}?${query()}`)).json();
    if (generation !== state.generation) return;
    for (const fresh of list.items) {
      const known = state.agents.get(keyOf(fresh));
      if (known && known.metadata.resourceVersion === fresh.metadata.resourceVersion) {
        known.status = fresh.status;
      }
    }
    render();
  } catch {
    // the next BOOKMARK tries again
  }
}

async function refreshHealth() {
  try {
    const ready = await (await fetch("/readyz")).json();
    state.selfPreservation = Boolean(ready.selfPreservation);
  } catch {
    // the summary keeps what it knew
  }
  renderSummary();
}

// -- the page -------------------------------------------------------------------------------

const keyOf = (agent) => `${agent.metadata.namespace}/${agent.metadata.name}`;

let scheduled = false;
function render() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    renderTable();
    renderSummary();
    renderRecord();
    scheduleGraph();
  });
}

function sorted() {
  const agents = [...state.agents.values()];
  const by = {
    name: (a) => a.metadata.name,
    namespace: (a) => `${a.metadata.namespace}/${a.metadata.name}`,
    phase: (a) => a.status?.phase || "",
    heartbeat: (a) => -(Date.parse(a.status?.lastHeartbeatTime || 0) || 0),
    age: (a) => Date.parse(a.metadata.creationTimestamp || 0) || 0,
  }[state.sort];
  return agents.sort((a, b) => {
    const x = by(a);
    const y = by(b);
    return x < y ? -1 : x > y ? 1 : keyOf(a) < keyOf(b) ? -1 : 1;
  });
}

function cell(row, content) {
  const td = document.createElement("td");
  if (content instanceof Node) td.append(content);
  else td.textContent = content ?? "";
  row.append(td);
  return td;
}

function tags(values) {
  const span = document.createElement("span");
  for (const value of values) {
    const tag = document.createElement("span");
    tag.className = "tag";
    tag.textContent = value;
    span.append(tag);
  }
  return span;
}

function renderTable() {
  const body = $("agents").tBodies[0];
  const rows = sorted().map((agent) => {
    const row = document.createElement("tr");
    row.dataset.key = keyOf(agent);
    cell(row, agent.metadata.name);
    cell(row, agent.metadata.namespace);
    const phase = document.createElement("span");
    const name = agent.status?.phase || "pending";
    phase.className = `phase phase-${name}`;
    phase.textContent = name;
    cell(row, phase).dataset.phase = name;
    const beat = cell(row, "");
    beat.className = "since";
    beat.dataset.since = agent.status?.lastHeartbeatTime || "";
    cell(row, tags((agent.spec.capabilities || []).map((c) => `${c.name}@${c.version}`)));
    cell(row, tags(Object.entries(agent.metadata.labels || {}).map(([k, v]) => `${k}=${v}`)));
    cell(row, agent.spec.endpoint);
    const age = cell(row, "");
    age.className = "since";
    age.dataset.since = agent.metadata.creationTimestamp || "";
    row.addEventListener("click", () => select(keyOf(agent)));
    return row;
  });
  body.replaceChildren(...rows);
  tick();
}

function ago(since) {
  if (!since) return "never";
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(since)) / 1000));
  if (seconds < 120) return `${seconds}s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m ago`;
  return `${Math.round(seconds / 3600)}h ago`;
}

function tick() {
  for (const element of document.querySelectorAll(".since")) {
    element.textContent = ago(element.dataset.since);
  }
  renderAges();
}

const AGE_BUCKETS = ["< 1", "1–2", "2–3", "≥ 3", "never"];

function renderAges() {
  const counts = AGE_BUCKETS.map(() => 0);
  for (const agent of state.agents.values()) {
    const since = agent.status?.lastHeartbeatTime;
    const interval = agent.spec.healthInterval || 10;
    const age = since ? (Date.now() - Date.parse(since)) / 1000 / interval : null;
    counts[age === null ? 4 : Math.min(3, Math.floor(Math.max(0, age)))] += 1;
  }
  const most = Math.max(1, ...counts);
  const bars = [];
  counts.forEach((count, i) => {
    const y = 6 + i * 20;
    const label = document.createElementNS(SVG, "text");
    label.setAttribute("x", "0");
    label.setAttribute("y", String(y + 12));
    label.textContent = AGE_BUCKETS[i];
    const bar = document.createElementNS(SVG, "rect");
    bar.setAttribute("x", "60");
    bar.setAttribute("y", String(y));
    bar.setAttribute("height", "14");
    bar.setAttribute("width", String(Math.round((count / most) * 480)));
    bar.setAttribute("class", `age-bar age-${i}`);
    const value = document.createElementNS(SVG, "text");
    value.setAttribute("x", String(66 + Math.round((count / most) * 480)));
    value.setAttribute("y", String(y + 12));
    value.textContent = String(count);
    bars.push(label, bar, value);
  });
  $("ages").replaceChildren(...bars);
}

function renderSummary() {
  const counts = { pending: 0, healthy: 0, unhealthy: 0, offline: 0 };
  for (const agent of state.agents.values()) counts[agent.status?.phase || "pending"] += 1;
  const parts = Object.entries(counts).map(([phase, n]) => `${n} ${phase}`);
  parts.push(`revision ${state.revision || "?"}`);
  parts.push(`self-preservation ${state.selfPreservation ? "on" : "off"}`);
  $("summary").textContent = parts.join(" · ");
}

function select(key) {
  state.selected = key;
  renderRecord();
}

function renderRecord() {
  const section = $("record");
  const agent = state.selected && state.agents.get(state.selected);
  if (!agent) {
    section.hidden = true;
    return;
  }
  section.hidden = false;
  $("record-title").textContent = state.selected;
  $("record-body").textContent = JSON.stringify(agent, null, 2);
  const items = (state.events.get(state.selected) || []).map((event) => {
    const item = document.createElement("li");
    item.textContent = `${event.at.toLocaleTimeString()} ${event.type} ${event.phase || ""} (revision ${event.revision})`;
    return item;
  });
  $("record-events").replaceChildren(...items);
}

// -- the dependency graph -------------------------------------------------------------------

let graphTimer = null;
function scheduleGraph() {
  clearTimeout(graphTimer);
  graphTimer = setTimeout(drawGraph, GRAPH_DELAY_MS);
}

function dependencyKey(namespace, dependency) {
  return JSON.stringify([namespace, dependency.capability, dependency.selector || "",
    dependency.version || "", dependency.tags || []]);
}

async function providersOf(namespace, dependency) {
  // The registry ranks them, as for the consumer itself.
  const params = new URLSearchParams({ capability: dependency.capability, namespace });
  if (dependency.selector) params.set("labelSelector", dependency.selector);
  if (dependency.version) params.set("version", dependency.version);
  for (const tag of dependency.tags || []) params.append("tags", tag);
  const found = await (await api(`/api/v1/discover?${params}`)).json();
  return found.items.map(keyOf);
}

async function drawGraph() {
  const edges = []; // [consumer, dependency key]
  const needed = new Map(); // dependency key -> [namespace, dependency]
  for (const agent of state.agents.values()) {
    for (const dependency of agent.spec.dependencies || []) {
      const key = dependencyKey(agent.metadata.namespace, dependency);
      needed.set(key, [agent.metadata.namespace, dependency]);
      edges.push([keyOf(agent), key]);
    }
  }
  try {
    await Promise.all([...needed].map(async ([key, [namespace, dependency]]) => {
      state.providers.set(key, await providersOf(namespace, dependency));
    }));
  } catch (error) {
    trouble(error);
    return;
  }
  paint(edges, needed);
}

function paint(edges, needed) {
  const svg = $("graph");
  const consumers = [...new Set(edges.map(([consumer]) => consumer))].sort();
  const capabilities = [...needed.keys()].sort();
  const providers = [...new Set(capabilities.flatMap((k) => state.providers.get(k) || []))].sort();
  const row = 20;
  const columns = [20, 360, 700];
  const height = Math.max(consumers.length, capabilities.length, providers.length, 1) * row + 20;
  svg.setAttribute("viewBox", `0 0 1040 ${height}`);
  svg.setAttribute("height", String(height));
  const place = (list, x) => new Map(list.map((id, i) => [id, { x, y: 20 + i * row }]));
  const at = {
    consumer: place(consumers, columns[0]),
    capability: place(capabilities, columns[1]),
    provider: place(providers, columns[2]),
  };
  const shapes = [];
  const lines = [];
  const line = (from, to, a, b) => {
    const element = document.createElementNS(SVG, "line");
    lines.push([element, from, a]);
    element.setAttribute("x1", String(a.x + 300));
    element.setAttribute("y1", String(a.y - 4));
    element.setAttribute("x2", String(b.x - 6));
    element.setAttribute("y2", String(b.y - 4));
    element.dataset.from = from;
    element.dataset.to = to;
    shapes.push(element);
  };
  for (const [consumer, key] of edges) {
    line(consumer, key, at.consumer.get(consumer), at.capability.get(key));
  }
  for (const key of capabilities) {
    for (const provider of state.providers.get(key) || []) {
      line(key, provider, at.capability.get(key), at.provider.get(provider));
    }
  }
  const label = (id, text, point, unresolved = false) => {
    const group = document.createElementNS(SVG, "g");
    group.dataset.node = id;
    if (unresolved) group.classList.add("unresolved");
    const element = document.createElementNS(SVG, "text");
    element.setAttribute("x", String(point.x));
    element.setAttribute("y", String(point.y));
    element.textContent = text;
    group.append(element);
    shapes.push(group);
  };
  for (const consumer of consumers) label(consumer, consumer, at.consumer.get(consumer));
  for (const key of capabilities) {
    const [namespace, dependency] = needed.get(key);
    const none = (state.providers.get(key) || []).length === 0;
    const text = `${dependency.capability}${dependency.selector ? ` [${dependency.selector}]` : ""}`;
    label(key, `${text} (${namespace})`, at.capability.get(key), none && dependency.required);
  }
  for (const provider of providers) label(provider, provider, at.provider.get(provider));
  svg.replaceChildren(...shapes);
  // Each edge starts where its label ends (known once the labels are drawn).
  const widths = new Map();
  for (const group of svg.querySelectorAll("g[data-node]")) {
    widths.set(group.dataset.node, group.firstChild.getComputedTextLength());
  }
  for (const [element, from, point] of lines) {
    element.setAttribute("x1", String(point.x + (widths.get(from) ?? 300) + 6));
  }
}

// -- problems, tokens, filters --------------------------------------------------------------

function trouble(error) {
  const status = error instanceof RegistryError ? error.status : 0;
  let text = error.message || String(error);
  if (status === 401) text = `Not signed in: ${text}. Give a token.`;
  if (status === 403) text = `Not allowed: ${text}`;
  $("problem").textContent = text;
  $("problem").hidden = false;
  if (status === 401 || status === 403) $("login").hidden = false;
  connection(status ? "stopped" : "reconnecting");
}

function clearProblem() {
  $("problem").hidden = true;
  $("problem").textContent = "";
}

function connection(text) {
  $("connection").textContent = text;
}

function readFilters() {
  state.filters = {
    namespace: $("namespace").value,
    selector: $("selector").value,
    capability: $("capability").value,
    phase: $("phase").value,
  };
}

function start() {
  $("apply").addEventListener("click", () => {
    readFilters();
    relist();
  });
  for (const id of ["namespace", "selector", "capability"]) {
    $(id).addEventListener("keydown", (event) => {
      if (event.key === "Enter") $("apply").click();
    });
  }
  $("phase").addEventListener("change", () => $("apply").click());
  $("sign-in").addEventListener("click", () => {
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    $("sign-out").hidden = false;
    relist();
  });
  $("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    $("sign-out").hidden = true;
    relist();
  });
  $("sign-out").hidden = !sessionStorage.getItem(TOKEN_KEY);
  $("close-record").addEventListener("click", () => select(null));
  for (const th of document.querySelectorAll("th[data-sort]")) {
    th.addEventListener("click", () => {
      state.sort = th.dataset.sort;
      render();
    });
  }
  setInterval(tick, 1000);
  relist();
}

start();
