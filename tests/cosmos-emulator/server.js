#!/usr/bin/env node
/* eslint-disable no-underscore-dangle */
// A Cosmos DB emulator process for clusterconfig's tests: @vercel/cosmosdb-server
// 1.0.1 with the fixes the Rust SDK (azure_data_cosmos 1.0.0) needs, listed in
// ../../../shared/reference/dependencies.md and patched below one by one.
//
// Usage (after `npm ci` in this directory; scripts/test does it):
//   node server.js [--port 0] [--host 127.0.0.1] [--no-ssl] [--exit-with-stdin]
// Prints one JSON line on stdout when ready: {"ready":true,"port":N,"scheme":"http"}
// --exit-with-stdin: exit when stdin closes, so the emulator never outlives the
// test process that started it, however that process ends.
//
// What it still does not do: apply TTL, check auth, or scope queries and change
// feeds to a partition (the service names the partition in its SQL and filters
// change-feed items itself).

const path = require("path");

const argv = process.argv.slice(2);
const opts = { port: 0, host: "127.0.0.1", ssl: true };
while (argv.length) {
  const k = argv.shift();
  if (k === "--port" || k === "-p") opts.port = parseInt(argv.shift(), 10);
  else if (k === "--host") opts.host = argv.shift();
  else if (k === "--no-ssl") opts.ssl = false;
  else if (k === "--exit-with-stdin") opts.exitWithStdin = true;
}

if (opts.exitWithStdin) {
  process.stdin.on("end", () => process.exit(0));
  process.stdin.on("close", () => process.exit(0));
  process.stdin.resume();
}

const pkgRoot = path.dirname(
  require.resolve("@vercel/cosmosdb-server/package.json")
);
const lib = p => require(path.join(pkgRoot, "lib", p));

// ---------------------------------------------------------------------------
// Patch 1: advertise the real scheme (http in --no-ssl mode) in the account
// metadata. lib/index.js does `new account_1.default(host, port)` at
// 'listening' time, so replacing the export before the server starts works.
// ---------------------------------------------------------------------------
const accountMod = lib("account/index.js");
const OrigAccount = accountMod.default;
let theAccount = null;
class PatchedAccount extends OrigAccount {
  constructor(host, port) {
    super(host, port);
    const scheme = opts.ssl ? "https" : "http";
    const data = this.read();
    [...data.writableLocations, ...data.readableLocations].forEach(loc => {
      // eslint-disable-next-line no-param-reassign
      loc.databaseAccountEndpoint = `${scheme}://${host}:${port}/`;
    });
    theAccount = this;
  }
}
accountMod.default = PatchedAccount;

// ---------------------------------------------------------------------------
// Patch 2: partition key range ids must be strings ("0"), the Rust driver
// deserializes `id: String` and fails on the number 0.
// ---------------------------------------------------------------------------
const PartitionKeyRanges = lib("account/partition-key-ranges.js").default;
const origPkrCreate = PartitionKeyRanges.prototype.create;
PartitionKeyRanges.prototype.create = function create(data) {
  return origPkrCreate.call(this, { ...data, id: String(data.id) });
};

// ---------------------------------------------------------------------------
// Patch 3: stamp a monotonically increasing `_lsn` on every document write so
// the change feed can be served incrementally (see handleChangeFeed).
// ---------------------------------------------------------------------------
let globalLsn = 0;
const Documents = lib("account/documents.js").default;
const ItemsProto = Object.getPrototypeOf(Documents.prototype);
Documents.prototype._set = function _set(data) {
  globalLsn += 1;
  return ItemsProto._set.call(this, { ...data, _lsn: globalLsn });
};

// ---------------------------------------------------------------------------
// Patch 3b: resource ids are base64 and, past a few dozen databases or
// containers, the emulator's counters produce one with a '/' in it (such as
// 'gAA/AIAAAAE='), which the Rust driver cannot take apart ("failed to extract
// database RID from container RID"), so every later server start failed. Real
// Cosmos DB never hands out such ids: skip the counter values that make one.
// ---------------------------------------------------------------------------
const origItemsCreate = ItemsProto.create;
ItemsProto.create = function create(data) {
  while (String(this._rid(this._ridCount + 1)).includes("/")) {
    this._ridCount += 1;
  }
  return origItemsCreate.call(this, data);
};

// ---------------------------------------------------------------------------
// Patch 4: GET of a missing document returns 500 (TypeError in the handler's
// partition-key check). Return 404 instead. Must be patched before
// lib/routes.js is loaded (it captures handler.default at load time).
// ---------------------------------------------------------------------------
const { parsePartitionKey } = lib("utils/get-partition-from-header.js");
const pkHeaderOf = req => {
  const h = req.headers["x-ms-documentdb-partitionkey"];
  return Array.isArray(h) ? h[0] : h;
};
const readDocMod = lib("handler/read-document.js");
const origReadDoc = readDocMod.default;
readDocMod.default = (account, req, res, params) => {
  const coll = account.database(params.dbId).collection(params.collId);
  const header = pkHeaderOf(req);
  if (coll.read() && header) {
    let pk;
    try {
      pk = parsePartitionKey(header, params.docId);
    } catch (e) {
      pk = undefined;
    }
    if (!coll.document(params.docId, pk).read()) {
      res.statusCode = 404;
      return {
        code: "NotFound",
        message: "Entity with the specified id does not exist in the system."
      };
    }
  }
  return origReadDoc(account, req, res, params);
};

// Patch 4b: POST a document into a missing collection -> 500; make it 404.
const createDocMod = lib("handler/create-document.js");
const origCreateDoc = createDocMod.default;
createDocMod.default = (account, req, res, params) => {
  if (!account.database(params.dbId).collection(params.collId).read()) {
    res.statusCode = 404;
    return { code: "NotFound", message: "Resource Not Found" };
  }
  return origCreateDoc(account, req, res, params);
};

// ---------------------------------------------------------------------------
// Patch 5: transactional batch. The stock handler (a) requires a per-operation
// `partitionKey` (the Rust SDK only sends the x-ms-documentdb-partitionkey
// header) and throws -> 500, (b) is not atomic, (c) always answers 200.
// Re-implemented here: pk injected from the header, all-or-nothing via a
// synchronous snapshot/restore, 207 + 424s on failure.
// ---------------------------------------------------------------------------
const ops = lib("handler/_document-operations.js");
const patchOps = lib("handler/_patch-operations.js");
const readJson = lib("json.js").default;
const batchMod = lib("handler/batch-documents.js");
batchMod.default = async (account, req, res, { dbId, collId }) => {
  const body = await readJson(req);
  const collection = account.database(dbId).collection(collId);
  if (!collection.read()) {
    res.statusCode = 404;
    return { code: "NotFound", message: "Resource Not Found" };
  }
  if (!Array.isArray(body)) {
    res.statusCode = 400;
    return { code: "BadRequest", message: "Invalid request body" };
  }
  const header = pkHeaderOf(req);
  const docs = collection.documents;
  // Everything below is synchronous: no other request can interleave.
  const snapshot = {
    data: new Map(docs._data),
    index: new Map(docs._index),
    ridCount: docs._ridCount
  };
  const results = [];
  let failedAt = -1;
  try {
    for (let i = 0; i < body.length; i += 1) {
      const input = { ...body[i] };
      if (input.partitionKey === undefined && header) input.partitionKey = header;
      if (input.partitionKey !== undefined && typeof input.partitionKey !== "string") {
        input.partitionKey = JSON.stringify(input.partitionKey);
      }
      let r;
      switch (input.operationType) {
        case "Create":
          r = ops.createOperation(collection, input);
          break;
        case "Upsert":
          r = ops.upsertOperation(collection, input);
          break;
        case "Read":
          r = ops.readOperation(collection, input);
          break;
        case "Delete":
          r = ops.deleteOperation(collection, input);
          break;
        case "Replace":
          r = ops.replaceOperation(collection, input);
          break;
        case "Patch": {
          const rb = input.resourceBody || {};
          r = patchOps.patchOperation(collection, {
            id: input.id,
            partitionKey: input.partitionKey,
            ifMatch: input.ifMatch,
            operations: Array.isArray(rb) ? rb : rb.operations,
            condition: Array.isArray(rb) ? undefined : rb.condition
          });
          break;
        }
        default:
          r = { statusCode: 400, body: { message: `unsupported ${input.operationType}` } };
      }
      if (r.statusCode >= 400) {
        failedAt = i;
        results.push({ statusCode: r.statusCode, requestCharge: 0 });
        break;
      }
      results.push({
        statusCode: r.statusCode,
        requestCharge: 1,
        eTag: r.body ? r.body._etag : undefined,
        resourceBody: r.body
      });
    }
  } catch (e) {
    docs._data = snapshot.data;
    docs._index = snapshot.index;
    docs._ridCount = snapshot.ridCount;
    throw e;
  }
  if (failedAt >= 0) {
    docs._data = snapshot.data;
    docs._index = snapshot.index;
    docs._ridCount = snapshot.ridCount;
    res.statusCode = 207;
    return body.map((_, i) =>
      i === failedAt ? results[failedAt] : { statusCode: 424, requestCharge: 0 }
    );
  }
  return results;
};

// ---------------------------------------------------------------------------
// Change feed (LatestVersion) served from `_lsn`. The stock server answers
// the first A-IM read with every document and 304 forever afterwards.
// If-None-Match: absent = Beginning, "*" = Now, "<n>" = continuation.
// If-Modified-Since = PointInTime (approximated with _ts).
// ---------------------------------------------------------------------------
const CHANGE_FEED_PATH = /^\/dbs\/([^/]+)\/colls\/([^/]+)\/docs\/?$/;
function sendJson(res, status, headers, body) {
  res.statusCode = status;
  Object.entries(headers).forEach(([k, v]) => res.setHeader(k, v));
  res.setHeader("content-type", "application/json");
  res.setHeader("x-ms-request-charge", "1");
  res.setHeader("x-ms-activity-id", require("crypto").randomUUID());
  res.end(status === 304 ? undefined : JSON.stringify(body));
}
function handleChangeFeed(req, res, dbId, collId) {
  const coll = theAccount.database(dbId).collection(collId);
  const meta = coll.read();
  if (!meta) {
    sendJson(res, 404, {}, { code: "NotFound", message: "Resource Not Found" });
    return;
  }
  const inm = (req.headers["if-none-match"] || "").replace(/"/g, "");
  let since = 0;
  let minTs = 0;
  if (inm === "*") since = globalLsn;
  else if (inm) since = parseInt(inm, 10) || 0;
  else if (req.headers["if-modified-since"]) {
    minTs = Math.floor(Date.parse(req.headers["if-modified-since"]) / 1000) || 0;
  }
  const pkPath = ((meta.partitionKey || {}).paths || ["/id"])[0].slice(1).split("/");
  const header = pkHeaderOf(req);
  let pk;
  if (header) pk = parsePartitionKey(header, undefined);
  const getPk = d => pkPath.reduce((o, k) => (o == null ? undefined : o[k]), d);
  const changed = [...coll.documents._data.values()]
    .map(i => i.read())
    .filter(d => (d._lsn || 0) > since && d._ts >= minTs)
    .filter(d => pk === undefined || getPk(d) === pk)
    .sort((a, b) => a._lsn - b._lsn);
  const max = parseInt(req.headers["x-ms-max-item-count"], 10);
  const page = max > 0 ? changed.slice(0, max) : changed;
  const etag = page.length ? page[page.length - 1]._lsn : inm === "*" ? globalLsn : since;
  if (!page.length) {
    sendJson(res, 304, { etag: String(etag) });
    return;
  }
  sendJson(
    res,
    200,
    { etag: String(etag), "x-ms-item-count": String(page.length) },
    { _rid: meta._rid, Documents: page, _count: page.length }
  );
}

// ---------------------------------------------------------------------------
// Start the server and put a pre-router in front of the library's listener.
// ---------------------------------------------------------------------------
const { createHttpServer, createHttpsServer } = require(pkgRoot);
const server = opts.ssl
  ? createHttpsServer({ keepAlive: true })
  : createHttpServer({ keepAlive: true });
const [libListener] = server.listeners("request");
server.removeAllListeners("request");
server.on("request", (req, res) => {
  const { pathname } = new URL(req.url, "http://x");
  const m = CHANGE_FEED_PATH.exec(pathname);
  if (req.method === "GET" && m && req.headers["a-im"]) {
    try {
      handleChangeFeed(req, res, decodeURIComponent(m[1]), decodeURIComponent(m[2]));
    } catch (e) {
      // eslint-disable-next-line no-console
      console.error(e);
      sendJson(res, 500, {}, { message: String(e) });
    }
    return;
  }
  if (req.method === "POST" && req.headers["x-ms-cosmos-is-query-plan-request"]) {
    // The library would run the query instead of returning a plan.
    sendJson(res, 400, {}, { code: "BadRequest", message: "query plans are not supported" });
    return;
  }
  // The Rust SDK never sends x-ms-documentdb-query-enablecrosspartition; the
  // library rejects queries without it unless the SQL filters on the pk path.
  if (req.method === "POST" && !req.headers["x-ms-documentdb-partitionkey"]) {
    req.headers["x-ms-documentdb-query-enablecrosspartition"] = "true";
  }
  libListener(req, res);
});
server.listen(opts.port, opts.host, () => {
  const { port } = server.address();
  // eslint-disable-next-line no-console
  console.log(JSON.stringify({ ready: true, port, scheme: opts.ssl ? "https" : "http" }));
});
