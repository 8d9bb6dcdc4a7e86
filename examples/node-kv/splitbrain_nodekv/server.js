// A small primary-backup key-value store for Node.js, speaking newline-delimited JSON over TCP.
//
// Usage: node server.js <config.json>   (the config splitbrain writes for every node: node, listen, nodes, variant)
//
// The first node by name is the primary; the others are backups. Every node accepts client requests
// {"id", "type": "read"|"write"|"cas", "key", "value"} and answers {"id", "ok": true, "value"} or
// {"id", "ok": false, "error": <code>, "detail"} (codes from splitbrain's error table: `splitbrain errors`). A backup
// forwards each request to the primary and relays its answer. {"type": "role"} answers {"node", "primary"}: the
// plugin's primaries() and ready() ask it.
// The primary applies writes in order, appends them to kv.log (fsync'd) before it acknowledges them, and ships them
// to the backups (asynchronously, plus a full snapshot every 500 ms so a backup that missed some catches up).
//
// Variants: "correct" (everything answered by the primary: linearizable) and "backup-reads" (a backup answers
// reads from its own copy, which lags the primary, and is stale while it is cut off from it).
"use strict";
const fs = require("fs");
const net = require("net");

const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const me = config.node;
const names = Object.keys(config.nodes).sort();
const primary = names[0];
const isPrimary = me === primary;
const variant = config.variant || "correct";

const store = new Map();      // key -> value
const versions = new Map();   // key -> seq of the write that set it (backups ignore older ones)
let seq = 0;

// Durability: the primary's writes survive a kill (kill -9, then a restart with the same data dir).
const LOG = "kv.log";          // the node runs with its data dir as working directory
if (fs.existsSync(LOG)) {
  for (const line of fs.readFileSync(LOG, "utf8").split("\n")) {
    if (!line) continue;
    let e;
    try { e = JSON.parse(line); } catch (_) { break; }   // a torn last line: it was never acknowledged
    store.set(e.key, e.value); versions.set(e.key, e.seq); seq = Math.max(seq, e.seq);
  }
}
const logFd = fs.openSync(LOG, "a");

function persist(entry) {
  fs.writeSync(logFd, JSON.stringify(entry) + "\n");
  fs.fsyncSync(logFd);
}

function apply(entry) {       // a backup applies the primary's writes, newest per key wins
  if ((versions.get(entry.key) || 0) < entry.seq) {
    store.set(entry.key, entry.value); versions.set(entry.key, entry.seq);
  }
}

// --- talking to peers: one short-lived connection per message (simple, and a partition can't wedge it) ---
function send(node, msg, timeoutMs) {
  return new Promise((resolve) => {
    const [host, port] = config.nodes[node];
    const sock = net.createConnection({ host, port });
    let sent = false, buf = "", done = false;
    const finish = (r) => { if (!done) { done = true; sock.destroy(); resolve(r); } };
    sock.setTimeout(timeoutMs, () => finish({ ok: false, error: sent ? "timeout" : "unavailable",
                                              detail: `no answer from ${node}` }));
    sock.on("connect", () => { sent = true; sock.write(JSON.stringify(msg) + "\n"); });
    sock.on("error", (e) => finish({ ok: false, error: sent ? "connection-lost" : "unavailable",
                                     detail: `${node}: ${e.code || e.message}` }));
    sock.on("data", (d) => {
      buf += d; const i = buf.indexOf("\n");
      if (i >= 0) { try { finish(JSON.parse(buf.slice(0, i))); } catch (_) { finish({ ok: false, error: "crashed" }); } }
    });
    sock.on("close", () => finish({ ok: false, error: sent ? "connection-lost" : "unavailable",
                                    detail: `${node} closed the connection` }));
  });
}

function replicate(entries) {
  for (const n of names) if (n !== me) send(n, { type: "replicate", entries }, 500);
}
if (isPrimary) {
  setInterval(() => {
    replicate([...store.keys()].map((key) => ({ key, value: store.get(key), seq: versions.get(key) })));
  }, 500);
}

// --- the primary's state machine ---
function handleOnPrimary(req) {
  const key = req.key === undefined ? "r" : String(req.key);
  if (req.type === "read") return { ok: true, value: store.has(key) ? store.get(key) : null };
  if (req.type === "write" || req.type === "cas") {
    let value = req.value;
    if (req.type === "cas") {
      const [expected, next] = req.value;
      const current = store.has(key) ? store.get(key) : null;
      if (current !== expected) return { ok: false, error: "cas-mismatch", detail: `value is ${current}` };
      value = next;
    }
    const entry = { key, value, seq: ++seq };
    persist(entry);                        // durable before acknowledged
    store.set(key, value); versions.set(key, entry.seq);
    replicate([entry]);
    return { ok: true, value: req.value };
  }
  return { ok: false, error: "bad-request", detail: `unknown type ${req.type}` };
}

async function handle(req) {
  if (req.type === "replicate") { req.entries.forEach(apply); return { ok: true }; }
  if (req.type === "role") return { ok: true, node: me, primary: isPrimary };
  if (isPrimary) return handleOnPrimary(req);
  if (req.type === "read" && variant === "backup-reads") {     // the seeded bug: a backup's copy may be stale
    const key = req.key === undefined ? "r" : String(req.key);
    return { ok: true, value: store.has(key) ? store.get(key) : null };
  }
  const { id, ...rest } = req;
  return send(primary, rest, 1000);        // forward; a timeout after sending is reported as indefinite
}

const server = net.createServer((sock) => {
  let buf = "";
  sock.on("error", () => {});
  sock.on("data", async (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i); buf = buf.slice(i + 1);
      let req;
      try { req = JSON.parse(line); } catch (_) { sock.write(JSON.stringify({ ok: false, error: "bad-request" }) + "\n"); continue; }
      const reply = await handle(req);
      if (!sock.destroyed) sock.write(JSON.stringify({ ...reply, id: req.id }) + "\n");
    }
  });
});
server.listen(config.listen[1], config.listen[0], () => {
  console.log(`node-kv ${me} (${isPrimary ? "primary" : "backup of " + primary}, ${variant}) listening on ` +
              `${config.listen[0]}:${config.listen[1]}`);
});
