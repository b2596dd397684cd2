// SPDX-License-Identifier: MIT
// Builds tests/fixtures/chroma-1.0: a persist directory written by the real
// ChromaDB 1.0 server (npm chromadb@3.0.6), plus expected.json with what that
// server answered. See README.md beside this file.
//
// usage: node make_fixture.mjs [OUT_DIR]   (default: ../../tests/fixtures/chroma-1.0)
//
// The writes go through the server's HTTP API as hand-serialized JSON, because
// JSON.stringify(2.0) is "2" and the server would store an int: float metadata
// must reach it as "2.0" to test that an int-valued float stays a float.

import { spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.resolve(process.argv[2] ?? path.join(here, "../../tests/fixtures/chroma-1.0"));
const persistDir = path.join(outDir, "persist");
const HOST = "127.0.0.1";  // never listen beyond this machine: the server is for this script alone

// --- deterministic data ------------------------------------------------------

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rng = mulberry32(20250601);
const uniform = () => rng() * 2 - 1;
// float32-exact values, so the server stores exactly what we sent
const vector = (dim) => Array.from({ length: dim }, () => Math.fround(uniform() * (1 + 3 * rng())));

/** A float metadata value: serialized with a decimal point or exponent. */
class F {
  constructor(v) { this.v = v; }
}
function ser(x) {
  if (x === null || x === undefined) return "null";
  if (x instanceof F) {
    const s = String(x.v);
    return /[.eE]/.test(s) ? s : s + ".0";
  }
  if (typeof x === "number") {
    // ints (metadata) must be exact; other plain numbers are embedding components
    if (Number.isInteger(x) && !Number.isSafeInteger(x)) throw new Error(`unsafe integer ${x}`);
    return String(x);
  }
  if (typeof x === "string" || typeof x === "boolean") return JSON.stringify(x);
  if (Array.isArray(x)) return "[" + x.map(ser).join(",") + "]";
  return "{" + Object.entries(x).map(([k, v]) => JSON.stringify(k) + ":" + ser(v)).join(",") + "}";
}
/** The typed form the C++ test compares with (tests/support/dump.hpp). */
function typed(x) {
  if (x instanceof F) return { double: x.v };
  if (typeof x === "number") return { int: x };
  if (typeof x === "string") return { string: x };
  if (typeof x === "boolean") return { bool: x };
  throw new Error(`unexpected metadata value ${x}`);
}

const WORDS = ["vector", "graph", "naïve", "café", "中文", "検索", "🚀", "Straße", "index", "embedding", "query", "ранг"];
const FLOATS = [2.0, -0.5, 3.141592653589793, 1e-7, -1234.5678, 0.1, 1e300, -2.0, 0.0];
function makeMeta(i, variant) {
  const m = {
    year: 1990 + ((i * 7) % 35),                       // int
    delta: -((i * 13) % 50) - 1,                        // negative int
    score: new F(FLOATS[(i + variant) % FLOATS.length]),  // float, incl. 2.0, -2.0, 0.0
    ratio: new F(Math.round((uniform() * 1000)) / 8),   // float, sometimes int-valued
    title: `${WORDS[i % WORDS.length]} ${WORDS[(i * 5 + variant) % WORDS.length]} #${i}`,
    flag: (i + variant) % 3 === 0,                      // bool
  };
  if (i % 5 === 0) m.one = 1;                           // int 1, must not become true
  if (i % 6 === 0) m.big = -9007199254740991;          // the smallest safe int
  if (i % 7 === 0) m.tag = WORDS[(i + 3) % WORDS.length];
  if (variant > 0) m.version = variant;
  return m;
}
function makeDoc(i, variant) {
  if (i % 9 === 4) return null;  // some records have no document
  return `document ${i}.${variant}: ${WORDS[(i * 3) % WORDS.length]} ${WORDS[(i + 1) % WORDS.length]} — ${"lorem ".repeat(1 + (i % 3)).trim()}`;
}
function makeId(prefix, i) {
  return i % 41 === 7 ? `${prefix}-${i}-ü中` : `${prefix}-${String(i).padStart(4, "0")}`;
}

// --- the server ---------------------------------------------------------------

async function freePort() {
  const srv = net.createServer();
  srv.listen(0, HOST);
  await once(srv, "listening");
  const { port } = srv.address();
  srv.close();
  await once(srv, "close");
  return port;
}

let base = "";
async function api(method, route, bodyText) {
  const res = await fetch(base + route, {
    method,
    headers: bodyText === undefined ? {} : { "content-type": "application/json" },
    body: bodyText,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${route}: HTTP ${res.status}: ${text}`);
  return text.length ? JSON.parse(text) : null;
}
const DB = "/api/v2/tenants/default_tenant/databases/default_database";

async function startServer(port) {
  const cli = path.join(here, "node_modules/chromadb/dist/cli.mjs");
  const child = spawn(process.execPath, [cli, "run", "--path", persistDir, "--host", HOST, "--port", String(port)], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, CHROMA_SERVER_NOFILE: "1024" },
  });
  let log = "";
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  base = `http://${HOST}:${port}`;
  for (let i = 0; i < 200; ++i) {
    if (child.exitCode !== null) throw new Error(`server exited early:\n${log}`);
    try {
      await api("GET", "/api/v2/heartbeat");
      return { child, log: () => log };
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  child.kill("SIGKILL");
  throw new Error(`server did not answer:\n${log}`);
}

async function stopServer(server) {
  // SIGINT is what Ctrl-C sends; the server shuts down and exits.
  server.child.kill("SIGINT");
  const timer = setTimeout(() => server.child.kill("SIGKILL"), 15000);
  const [code, signal] = await once(server.child, "exit");
  clearTimeout(timer);
  return { code, signal };
}

// --- the collections and what we expect of them --------------------------------

/** The model: what each id should hold after every write, typed. */
class Model {
  constructor() { this.rows = new Map(); this.deleted = new Set(); this.upserted = new Set(); }
  add(ids, embs, docs, metas) {
    ids.forEach((id, k) => {
      if (this.rows.has(id)) throw new Error(`model: ${id} exists`);
      this.rows.set(id, { embedding: embs[k], document: docs[k], meta: { ...metas[k] } });
    });
  }
  // Chroma's upsert of an existing id merges metadata and keeps an omitted document
  // (docs/migrating-from-chroma.md, "What a ChromaDB persist directory holds")
  upsert(ids, embs, docs, metas) {
    ids.forEach((id, k) => {
      this.upserted.add(id);
      const old = this.rows.get(id);
      if (!old) return this.add([id], [embs[k]], [docs[k]], [metas[k]]);
      old.embedding = embs[k];
      if (docs[k] !== null) old.document = docs[k];
      Object.assign(old.meta, metas[k]);
    });
  }
  update(ids, embs, metas) {
    ids.forEach((id, k) => {
      const old = this.rows.get(id);
      if (embs) old.embedding = embs[k];
      if (metas) Object.assign(old.meta, metas[k]);
    });
  }
  delete(ids) { ids.forEach((id) => { this.rows.delete(id); this.deleted.add(id); this.upserted.delete(id); }); }
}

async function write(coll, model, op, ids, { embeddings, documents, metadatas } = {}) {
  const body = { ids };
  if (embeddings) body.embeddings = embeddings;
  if (documents) body.documents = documents;
  if (metadatas) body.metadatas = metadatas;
  await api("POST", `${DB}/collections/${coll.id}/${op}`, ser(body));
  if (op === "add") model.add(ids, embeddings, documents, metadatas);
  else if (op === "upsert") model.upsert(ids, embeddings, documents, metadatas);
  else if (op === "update") model.update(ids, embeddings, metadatas);
  else if (op === "delete") model.delete(ids);
}

function batch(prefix, dim, from, to, variant) {
  const ids = [], embeddings = [], documents = [], metadatas = [];
  for (let i = from; i < to; ++i) {
    ids.push(makeId(prefix, i));
    embeddings.push(vector(dim));
    documents.push(makeDoc(i, variant));
    metadatas.push(makeMeta(i, variant));
  }
  return { ids, embeddings, documents, metadatas };
}
const idsOf = (prefix, list) => list.map((i) => makeId(prefix, i));
const range = (a, b) => Array.from({ length: b - a }, (_, k) => a + k);

async function buildPapers() {
  // Cosine, chosen through the collection metadata (the pre-1.0 way, still honoured).
  // sync_threshold 100 makes the server write HNSW files at this small size
  // (the default, 1000, would leave everything in the log). The server writes
  // them once 100 log rows have gathered since the last write, checked after
  // each request: the sequence below is laid out so that they are written at
  // seq 100, 200 and 300 and the last 30 rows stay in the log only.
  const coll = await api("POST", `${DB}/collections`, ser({
    name: "papers",
    metadata: { "hnsw:space": "cosine", "hnsw:sync_threshold": 100, "hnsw:batch_size": 50, description: "cosine, dim 16" },
    configuration: { embedding_function: { type: "legacy" } },
  }));
  const m = new Model();
  const P = "paper";
  for (let s = 0; s < 200; s += 50) { const b = batch(P, 16, s, s + 50, 0); await write(coll, m, "add", b.ids, b); }  // seq 1-200
  { const b = batch(P, 16, 10, 30, 1); await write(coll, m, "upsert", b.ids, b); }                                    // 201-220
  await write(coll, m, "delete", idsOf(P, range(50, 60)));                                                             // 221-230
  { const b = batch(P, 16, 200, 240, 0); await write(coll, m, "add", b.ids, b); }                                     // 231-270
  { const b = batch(P, 16, 30, 50, 1); await write(coll, m, "upsert", b.ids, b); }                                    // 271-290
  { const b = batch(P, 16, 240, 250, 0); await write(coll, m, "add", b.ids, b); }                                     // 291-300
  // the log tail, newer than the HNSW files: upserts of old and new ids, updates, deletes, adds
  { const b = batch(P, 16, 100, 110, 2); const c = batch(P, 16, 250, 256, 2);                                         // 301-316
    await write(coll, m, "upsert", [...b.ids, ...c.ids], {
      embeddings: [...b.embeddings, ...c.embeddings], documents: [...b.documents, ...c.documents],
      metadatas: [...b.metadatas, ...c.metadatas] }); }
  await write(coll, m, "update", idsOf(P, [1, 2, 3]), { metadatas: [{ score: new F(-2.0), note: "updated" }, { flag: true }, { year: 2042 }] });  // 317-319
  await write(coll, m, "update", idsOf(P, [4, 5]), { embeddings: [vector(16), vector(16)] });                         // 320-321
  await write(coll, m, "delete", idsOf(P, [200, 201, 15, 245, 252, 104]));                                             // 322-327
  { const b = batch(P, 16, 256, 259, 0); await write(coll, m, "add", b.ids, b); }                                     // 328-330
  return { coll, model: m, dim: 16, space: "cosine" };
}

async function buildNotes() {
  // L2, chosen through the 1.0 configuration.
  const coll = await api("POST", `${DB}/collections`, ser({
    name: "notes",
    metadata: { owner: "fixture", revision: 3 },
    configuration: { hnsw: { space: "l2", sync_threshold: 60, batch_size: 20 }, embedding_function: { type: "legacy" } },
  }));
  const m = new Model();
  const N = "note";
  for (let s = 0; s < 150; s += 30) { const b = batch(N, 8, s, s + 30, 0); await write(coll, m, "add", b.ids, b); }
  { const b = batch(N, 8, 0, 12, 1); await write(coll, m, "upsert", b.ids, b); }
  await write(coll, m, "delete", idsOf(N, [20, 21, 22, 23, 140]));
  { const b = batch(N, 8, 150, 170, 0); await write(coll, m, "add", b.ids, b); }
  { const b = batch(N, 8, 160, 165, 3); await write(coll, m, "upsert", b.ids, b); }
  await write(coll, m, "delete", idsOf(N, [0, 155, 169]));
  await write(coll, m, "update", idsOf(N, [3]), { embeddings: [vector(8)], metadatas: [{ title: "Überarbeitet ✓", ratio: new F(-0.25) }] });
  { const b = batch(N, 8, 170, 174, 0); await write(coll, m, "add", b.ids, b); }
  return { coll, model: m, dim: 8, space: "l2" };
}

// --- checks against what the server answers, and the expectations file -----------

const hexF32 = (v) => Buffer.from(new Float32Array(v).buffer).toString("hex");

function sameNumber(a, b) {
  if (a === b) return true;
  // ChromaDB may store a float 1 ulp from what was sent (seen with the real server)
  return Math.abs(a - b) <= Math.abs(b) * 4.5e-16;
}

async function record(c) {
  const count = await api("GET", `${DB}/collections/${c.coll.id}/count`);
  const got = await api("POST", `${DB}/collections/${c.coll.id}/get`,
    ser({ include: ["documents", "metadatas", "embeddings"] }));
  if (count !== c.model.rows.size || got.ids.length !== count) {
    throw new Error(`${c.coll.name}: server count ${count}, get ${got.ids.length}, model ${c.model.rows.size}`);
  }
  const records = [];
  got.ids.forEach((id, k) => {
    const want = c.model.rows.get(id);
    if (!want) throw new Error(`${c.coll.name}: server has unexpected ${id}`);
    const meta = {};
    const gotMeta = got.metadatas[k] ?? {};
    if (Object.keys(gotMeta).sort().join() !== Object.keys(want.meta).sort().join()) {
      throw new Error(`${c.coll.name}/${id}: metadata keys ${Object.keys(gotMeta)} vs model ${Object.keys(want.meta)}`);
    }
    for (const [key, v] of Object.entries(want.meta)) {
      const t = typed(v);
      const [type, value] = Object.entries(t)[0];
      const g = gotMeta[key];
      if (type === "double" || type === "int" ? !sameNumber(g, value) : g !== value) {
        throw new Error(`${c.coll.name}/${id}: ${key} = ${g}, model ${value}`);
      }
      meta[key] = { [type]: g };  // the server's value is the truth; the type is ours
    }
    if ((got.documents[k] ?? null) !== want.document) throw new Error(`${c.coll.name}/${id}: document differs`);
    const emb = got.embeddings[k];
    let maxErr = 0;
    want.embedding.forEach((x, j) => (maxErr = Math.max(maxErr, Math.abs(emb[j] - x))));
    if (maxErr > 1e-5) throw new Error(`${c.coll.name}/${id}: embedding differs by ${maxErr}`);
    // What the server's get() returned. For cosine it may differ from what was
    // sent by an ulp or two (held normalised, multiplied back by its norm), even
    // for vectors that are only in the log: then the sent one is kept too.
    const rec = { id, document: want.document, meta, embedding: hexF32(emb) };
    if (hexF32(want.embedding) !== rec.embedding) rec.embedding_sent = hexF32(want.embedding);
    records.push(rec);
  });
  records.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

  // queries: half near stored vectors (the nearest distance ~0), half random
  const queryRng = mulberry32(c.dim * 1000 + 7);
  const storedIds = [...c.model.rows.keys()].sort();
  const queries = [];
  for (let q = 0; q < 10; ++q) {
    let emb;
    if (q % 2 === 0) {
      const src = c.model.rows.get(storedIds[Math.floor(queryRng() * storedIds.length)]).embedding;
      emb = src.map((x) => Math.fround(x + 0.01 * (queryRng() * 2 - 1)));
    } else {
      emb = Array.from({ length: c.dim }, () => Math.fround(queryRng() * 2 - 1));
    }
    const r = await api("POST", `${DB}/collections/${c.coll.id}/query`,
      ser({ query_embeddings: [emb], n_results: 10, include: ["distances"] }));
    queries.push({ embedding: emb, ids: r.ids[0], distances: r.distances[0] });
  }
  return {
    name: c.coll.name,
    id: c.coll.id,
    space: c.space,
    dim: c.dim,
    count,
    deleted_ids: [...c.model.deleted].filter((id) => !c.model.rows.has(id)).sort(),
    upserted_ids: [...c.model.upserted].sort(),
    records,
    queries,
  };
}

// --- main ------------------------------------------------------------------------

fs.rmSync(outDir, { recursive: true, force: true });
fs.mkdirSync(persistDir, { recursive: true });
const port = await freePort();
const server = await startServer(port);
let expected;
try {
  const version = await api("GET", "/api/v2/version");
  const papers = await buildPapers();
  const notes = await buildNotes();
  expected = {
    generator: "tools/chroma_fixture/make_fixture.mjs",
    chromadb_npm: "3.0.6",
    server_version: version,
    collections: [
      await record(papers),
      await record(notes),
    ],
  };
} catch (e) {
  console.error(server.log());
  await stopServer(server);
  throw e;
}
const stopped = await stopServer(server);
console.log(`server stopped: code ${stopped.code}, signal ${stopped.signal}`);
// one record and one query per line: readable, and small enough to commit
const J = JSON.stringify;
const lines = (list) => "[\n" + list.map((x) => "    " + J(x)).join(",\n") + "\n   ]";
const collectionText = (c) => "  {\n" + Object.entries(c).map(([k, v]) =>
  `   ${J(k)}: ${k === "records" || k === "queries" ? lines(v) : J(v)}`).join(",\n") + "\n  }";
fs.writeFileSync(path.join(outDir, "expected.json"), "{\n" + Object.entries(expected).map(([k, v]) =>
  ` ${J(k)}: ${k === "collections" ? "[\n" + v.map(collectionText).join(",\n") + "\n ]" : J(v)}`).join(",\n") + "\n}\n");

let total = 0;
const walk = (d) => fs.readdirSync(d, { withFileTypes: true }).forEach((e) => {
  const p = path.join(d, e.name);
  if (e.isDirectory()) walk(p);
  else { total += fs.statSync(p).size; console.log(`${fs.statSync(p).size.toString().padStart(9)}  ${path.relative(outDir, p)}`); }
});
walk(outDir);
console.log(`${total.toString().padStart(9)}  total`);
