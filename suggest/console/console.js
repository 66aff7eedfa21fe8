// The agent console: one tab per buyer, each with its own history; Enter analyses the
// pasted message through POST /v1/analyze; replies are numbered, 1-9 copy them.
// No framework, no CDN: this file and console.css are all the page loads.
"use strict";

const STAGES = { pre_sale: "售前", in_sale: "售中", after_sale: "售后" };
const HISTORY_SENT = 10; // the engine reads the last few earlier messages
const TOP = 5;
const STORE = "suggest-console";

const $ = (id) => document.getElementById(id);
let names = {}; // intent and type ids -> Chinese names, from GET /v1/packs
let state = load() || { buyers: [{ name: "买家1", history: [], last: null }], current: 0, next: 2 };

function load() {
  try { return JSON.parse(sessionStorage.getItem(STORE)); } catch (e) { return null; }
}
function save() {
  try { sessionStorage.setItem(STORE, JSON.stringify(state)); } catch (e) { /* private mode: keep in memory */ }
}
function buyer() { return state.buyers[state.current]; }

function headers() {
  const h = { "content-type": "application/json" };
  const token = sessionStorage.getItem(STORE + "-token");
  if (token) h.authorization = "Bearer " + token;
  return h;
}

async function call(path, body) {
  const response = await fetch(path, body === undefined ? { headers: headers() }
    : { method: "POST", headers: headers(), body: JSON.stringify(body) });
  let data = null;
  try { data = await response.json(); } catch (e) { /* not JSON: handled below */ }
  if (response.status === 401) { $("token-bar").hidden = false; throw new Error("需要访问令牌"); }
  if (!response.ok) throw new Error((data && data.error) || ("服务器返回 " + response.status));
  return data;
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function renderTabs() {
  const nav = $("tabs");
  nav.replaceChildren();
  state.buyers.forEach((b, i) => {
    const tab = el("button", "tab" + (i === state.current ? " active" : ""), b.name);
    tab.type = "button";
    tab.dataset.index = String(i);
    tab.title = "切换到 " + b.name + "（" + b.history.length + " 条消息）";
    tab.addEventListener("click", () => { state.current = i; save(); renderAll(); $("message").focus(); });
    if (state.buyers.length > 1) {
      const close = el("span", "close", "×");
      close.title = "关闭";
      close.addEventListener("click", (event) => { event.stopPropagation(); closeTab(i); });
      tab.appendChild(close);
    }
    nav.appendChild(tab);
  });
}

function closeTab(i) {
  state.buyers.splice(i, 1);
  state.current = Math.min(state.current, state.buyers.length - 1);
  save();
  renderAll();
}

function chip(id, score, cls) {
  const node = el("span", "chip" + (cls ? " " + cls : ""), names[id] || id);
  node.title = id + " " + score.toFixed(2);
  node.appendChild(el("small", "", score.toFixed(2)));
  return node;
}

function renderAnalysis() {
  const a = buyer().last;
  const intents = $("intents"), types = $("types"), replies = $("replies");
  intents.replaceChildren(); types.replaceChildren(); replies.replaceChildren();
  if (!a) {
    intents.appendChild(el("span", "none", "—"));
    types.appendChild(el("span", "none", "—"));
    $("stage").textContent = "—";
    return;
  }
  if (a.intents.length) a.intents.forEach((m) => intents.appendChild(chip(m.id, m.score)));
  else intents.appendChild(el("span", "none", "无（不需要回答的消息）"));
  if (a.tags.length) a.tags.forEach((m) => types.appendChild(chip(m.id, m.score, "type")));
  else types.appendChild(el("span", "none", "—"));
  $("stage").textContent = STAGES[a.stage] || "—";
  a.replies.forEach((reply, i) => {
    const item = el("li");
    item.dataset.number = String(i + 1);
    item.appendChild(el("span", "num", String(i + 1)));
    item.appendChild(el("span", "text", reply.text));
    const button = el("button", "copy", "复制");
    button.type = "button";
    button.addEventListener("click", () => copyReply(i + 1));
    item.appendChild(button);
    replies.appendChild(item);
  });
  if (!a.replies.length && a.intents.length) replies.appendChild(el("li", "none", "回复库里没有合适的回复"));
}

function renderHistory() {
  const list = $("history");
  list.replaceChildren();
  buyer().history.forEach((text) => list.appendChild(el("li", "", text)));
  list.scrollTop = list.scrollHeight;
}

function renderAll() { renderTabs(); renderAnalysis(); renderHistory(); }

function toast(text) {
  const node = $("toast");
  node.textContent = text;
  node.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => node.classList.remove("show"), 1500);
}

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try { await navigator.clipboard.writeText(text); return true; } catch (e) { /* fall back below */ }
  }
  const area = el("textarea");
  area.value = text;
  area.style.position = "fixed"; area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  let ok = false;
  try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
  area.remove();
  return ok;
}

async function copyReply(number) {
  const a = buyer().last;
  if (!a || number > a.replies.length) { toast("没有第 " + number + " 条回复"); return; }
  const ok = await copyText(a.replies[number - 1].text);
  document.querySelectorAll("#replies li").forEach((li) => li.classList.toggle("copied", li.dataset.number === String(number)));
  toast(ok ? "已复制第 " + number + " 条回复" : "复制失败，请手动选择文字");
}

async function analyse() {
  const box = $("message");
  const text = box.value.trim();
  if (!text) return;
  const b = buyer();
  $("error").hidden = true;
  $("status").textContent = "分析中…";
  try {
    const analysis = await call("/v1/analyze", { text, history: b.history.slice(-HISTORY_SENT), top: TOP });
    b.history.push(text);
    b.last = analysis;
    box.value = "";
    save();
    renderAll();
    $("status").textContent = "";
  } catch (error) {
    $("status").textContent = "";
    $("error").textContent = "出错了：" + error.message;
    $("error").hidden = false;
  }
}

$("message").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    analyse();
  }
});

document.addEventListener("keydown", (event) => {
  if (!/^[1-9]$/.test(event.key) || event.ctrlKey || event.metaKey) return;
  const typing = event.target === $("message") && $("message").value !== "";
  const elsewhere = event.target.tagName === "INPUT";
  if (event.altKey || (!typing && !elsewhere)) {
    event.preventDefault();
    copyReply(Number(event.key));
  }
});

$("new-tab").addEventListener("click", () => {
  state.buyers.push({ name: "买家" + state.next, history: [], last: null });
  state.next += 1;
  state.current = state.buyers.length - 1;
  save();
  renderAll();
  $("message").focus();
});

$("clear-history").addEventListener("click", () => { buyer().history = []; buyer().last = null; save(); renderAll(); });

$("token-save").addEventListener("click", () => {
  sessionStorage.setItem(STORE + "-token", $("token").value);
  $("token-bar").hidden = true;
  loadNames();
});

async function loadNames() {
  try {
    const packs = await call("/v1/packs");
    names = packs.names || {};
    $("status").textContent = "已载入 " + packs.counts.intents + " 个意图、" + packs.counts.replies + " 条回复";
    renderAnalysis();
  } catch (error) {
    $("status").textContent = error.message;
  }
}

renderAll();
loadNames();
