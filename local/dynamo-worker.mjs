// Runs dynalite on its own thread, so the DynamoDB stand-in gets a core of its own. The runtime starts two: the
// store of every table (answering HTTP too), and the live store, which holds the data of the live path's tables
// (workerData.forward.tables) in a LevelDB of its own, so the broadcaster's requests never wait behind the history
// writer's. The first store keeps those tables' definitions (control-plane requests answer there) and forwards every
// data-plane request on them to the live store; the runtime's own clients send such requests there directly.
// Each store meters what the cloud would bill: every data-plane request is sent on to dynalite with
// ReturnConsumedCapacity TOTAL, and the capacity units of each answer are summed per table (read or write).
import { timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { PassThrough, Readable } from 'node:stream';
import { parentPort, workerData } from 'node:worker_threads';
import dynalite from 'dynalite';
import { lowerPriority } from './thread-priority.mjs';

// dynalite 4 turns each LevelDB iterator into a stream whose destroy calls `iterator.return()`, which
// abstract-level iterators do not have: no Query, Scan or key listing ever closed its iterator, and each open
// one pins a LevelDB snapshot and its native buffers (≈ 8 KB of RSS a Query, never returned). So the store's
// two stream factories are replaced by ones that close the iterator at the end, on destroy and on error.
// dynalite's index.js reads `db.create` at call time, so wrapping it here reaches the store it builds.
const dynaliteDb = createRequire(import.meta.url)('dynalite/db/index.js');
/** The LevelDB iterators, snapshots and batches open now, as the database itself tracks them. */
const openResources = new Set();

function iteratorStream(iterator) {
  return new Readable({
    objectMode: true,
    read() {
      iterator.next().then(
        (value) => this.push(value === undefined ? null : value),
        (err) => this.destroy(err),
      );
    },
    // Runs after the last value (autoDestroy), when dynalite stops early (takeWhile → destroy) and on errors.
    destroy(err, callback) {
      iterator.close().then(
        () => callback(err),
        (closeErr) => callback(err ?? closeErr),
      );
    },
  });
}

const createStore = dynaliteDb.create;
dynaliteDb.create = (options) => {
  const store = cacheTables(createStore(options));
  const level = store.db;
  if (typeof level?.keys !== 'function' || typeof level.values !== 'function' || typeof level.attachResource !== 'function') {
    throw new Error('dynalite changed its store: the iterator-closing streams in local/dynamo-worker.mjs need a review');
  }
  const attach = level.attachResource.bind(level);
  const detach = level.detachResource.bind(level);
  level.attachResource = (resource) => {
    attach(resource);
    openResources.add(resource);
  };
  level.detachResource = (resource) => {
    detach(resource);
    openResources.delete(resource);
  };
  level.createKeyStream = (options) => iteratorStream(level.keys(options));
  level.createValueStream = (options) => iteratorStream(level.values(options));
  return store;
};

const READS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan']);
const WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem']);
/** table → { read, write } capacity units since the start. */
const consumed = new Map();
/** table → operation → data-plane requests since the start (how many round trips the handlers pay for). */
const requests = new Map();
function countRequest(operation, request) {
  for (const table of tablesOf(request)) {
    let byOperation = requests.get(table);
    if (!byOperation) requests.set(table, (byOperation = {}));
    byOperation[operation] = (byOperation[operation] ?? 0) + 1;
    changed = true;
  }
}
let changed = false;
// The capacity entries of an answer, wherever they sit (one object, or an array for batch operations).
const CAPACITY = /"CapacityUnits":(\d+(?:\.\d+)?),"TableName":"([^"\\]+)"/g;

function record(table, kind, units) {
  let entry = consumed.get(table);
  if (!entry) consumed.set(table, (entry = { read: 0, write: 0 }));
  entry[kind] += units;
  changed = true;
}

function meter(operation, request, statusCode, body) {
  const kind = READS.has(operation) ? 'read' : 'write';
  if (statusCode === 200) {
    for (const [, units, table] of body.matchAll(CAPACITY)) {
      // A Query or Scan that reads nothing still costs DynamoDB's minimum read; dynalite reports 0.
      const minimum = operation === 'Query' || operation === 'Scan' ? (request.ConsistentRead ? 1 : 0.5) : 0;
      record(table, kind, Math.max(Number(units), minimum));
    }
  } else if (kind === 'write' && body.includes('ConditionalCheckFailedException')) {
    // DynamoDB bills a failed conditional write as a write (1 unit for a small item); dynalite reports none.
    record(request.TableName ?? '?', 'write', 1);
  }
}

// dynalite reads and decodes a table's description from LevelDB for every item it writes (twice per item of a
// BatchWriteItem): as many reads as the items themselves. Data-plane requests never change a table, so an ACTIVE table's
// description is kept until the next control-plane request (CreateTable, DeleteTable, UpdateTable, …).
const tableCache = new Map();
function cacheTables(store) {
  const getTable = store.getTable;
  store.getTable = (name, checkStatus, cb) => {
    const callback = typeof checkStatus === 'function' ? checkStatus : cb;
    const cached = tableCache.get(name);
    if (cached) return process.nextTick(callback, null, cached);
    getTable(name, typeof checkStatus === 'function' ? false : checkStatus, (err, table) => {
      if (!err && table?.TableStatus === 'ACTIVE') tableCache.set(name, table);
      callback(err, table);
    });
  };
  return store;
}

lowerPriority(workerData.nice);
const server = dynalite({ path: workerData.path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });

// Requests are let into dynalite a few at a time: a burst of the history writer's batches is not all parsed and
// validated at once ahead of a request that came after it.
const IN_FLIGHT = 4;
let inFlight = 0;
const waiting = [];
function tablesOf(request) {
  if (typeof request?.TableName === 'string') return [request.TableName];
  return request?.RequestItems && typeof request.RequestItems === 'object' ? Object.keys(request.RequestItems) : [];
}
function admit(res, serve) {
  let started = false;
  const start = () => {
    if (res.destroyed) return waiting.shift()?.(); // its caller left while it waited
    started = true;
    inFlight += 1;
    serve();
  };
  res.once('close', () => {
    if (!started) return;
    inFlight -= 1;
    waiting.shift()?.();
  });
  if (inFlight < IN_FLIGHT) start();
  else waiting.push(start);
}

const [serveDynalite] = server.listeners('request');
server.removeAllListeners('request');

/** The live store's way in, and the tables whose data it holds (the first store only). */
const forward = workerData.forward ?? null;
const forwardedTables = new Set(forward?.tables ?? []);
const forwarding = new Map();
let forwardNext = 0;
forward?.port.on('message', (answer) => {
  const res = forwarding.get(answer.id);
  forwarding.delete(answer.id);
  if (!res || res.destroyed) return;
  res.writeHead(answer.statusCode, answer.headers);
  res.end(answer.body);
});
forward?.port.on('close', () => {
  for (const res of forwarding.values()) answerError(res, 503, 'ServiceUnavailableException', 'The live DynamoDB store stopped.');
  forwarding.clear();
});

function answerError(res, statusCode, type, message) {
  if (res.destroyed) return;
  const body = JSON.stringify({ __type: `com.amazonaws.dynamodb.v20120810#${type}`, message });
  res.writeHead(statusCode, { 'content-type': 'application/x-amz-json-1.0', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * Where a data-plane request on these tables goes: 'here', 'live' (every table it names is the live store's), or
 * 'split' (it names both kinds: one request cannot be answered by two stores).
 */
function routeOf(tables) {
  if (forwardedTables.size === 0 || tables.length === 0) return 'here';
  const live = tables.filter((t) => forwardedTables.has(t)).length;
  if (live === 0) return 'here';
  return live === tables.length ? 'live' : 'split';
}

/** Sends a request on to the live store as it came (its credential is checked there), and its answer back. */
function forwardRequest(req, res, body) {
  const id = forwardNext++;
  forwarding.set(id, res);
  res.once('close', () => forwarding.delete(id));
  forward.port.postMessage({ id, method: req.method, path: req.url, headers: req.headers, body: body.toString('utf8') });
}

function meteredRequest(req, res) {
  const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
  if (!READS.has(operation) && !WRITES.has(operation)) {
    // A control-plane request may change a table: forget the descriptions, now and once it is answered.
    tableCache.clear();
    res.once('close', () => tableCache.clear());
    return serveDynalite(req, res);
  }
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    let body = Buffer.concat(chunks);
    let request = {};
    let parsed = false;
    const text = body.toString('utf8');
    try {
      request = JSON.parse(text);
      parsed = true;
    } catch {
      // not JSON: dynalite answers it with the error DynamoDB would
    }
    const route = routeOf(tablesOf(request));
    if (route === 'live') return forwardRequest(req, res, body);
    if (route === 'split') {
      const tables = [...forwardedTables].join(', ');
      return answerError(
        res,
        400,
        'ValidationException',
        `The local stand-in keeps ${tables} apart: a request may not name it with other tables.`,
      );
    }
    const replay = new PassThrough();
    Object.assign(replay, { headers: { ...req.headers, 'content-length': String(body.length) }, method: req.method, url: req.url });
    // The local TTL sweeper's requests (ttl-sweeper.ts UNBILLED_HEADER): DynamoDB's own TTL is free.
    if (req.headers['x-vigia-unbilled']) {
      serveDynalite(replay, res);
      return replay.end(body);
    }
    try {
      if (parsed && request && typeof request === 'object' && !Array.isArray(request)) {
        // The member put first, not the whole request serialized again (a pack write is tens of KB).
        if (request.ReturnConsumedCapacity === undefined && text.startsWith('{')) {
          body = Buffer.from(`{"ReturnConsumedCapacity":"TOTAL"${text.slice(1).trimStart().startsWith('}') ? '' : ','}${text.slice(1)}`);
        } else if ((request.ReturnConsumedCapacity ?? 'NONE') === 'NONE') {
          request.ReturnConsumedCapacity = 'TOTAL';
          body = Buffer.from(JSON.stringify(request));
        }
      }
    } catch {
      // metering never fails a request
    }
    replay.headers['content-length'] = String(body.length);
    countRequest(operation, request);
    const end = res.end.bind(res);
    res.end = (chunk, ...rest) => {
      try {
        if (chunk != null) meter(operation, request, res.statusCode, String(chunk));
      } catch {
        // metering never fails a request
      }
      return end(chunk, ...rest);
    };
    admit(res, () => {
      serveDynalite(replay, res);
      replay.end(body);
    });
  });
}

function report() {
  changed = false;
  parentPort.postMessage({ type: 'capacity', tables: Object.fromEntries(consumed), requests: Object.fromEntries(requests) });
}
// The main thread's copy is at most this stale; a `capacity` request answers at once.
const reporter = setInterval(() => changed && report(), 250);

// dynalite answers any credentials: only a caller signing with the runtime's access key id gets through.
const expected = Buffer.from(workerData.accessKeyId);
function signedByRuntime(authorization) {
  const match = /Credential=([^/,\s]+)\//.exec(authorization ?? '');
  const given = Buffer.from(match ? match[1] : '');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
function serve(req, res) {
  if (signedByRuntime(req.headers.authorization)) return meteredRequest(req, res);
  req.resume();
  answerError(res, 400, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
}
server.on('request', serve);

/**
 * The answer to a request that came over a MessagePort (local/dynamo-port.ts): what dynalite's handler and the
 * metering above use of an HTTP response, sent back as one message when it ends.
 */
class PortResponse extends EventEmitter {
  statusCode = 200;
  destroyed = false;
  headers = {};
  constructor(port, id) {
    super();
    this.port = port;
    this.id = id;
  }
  setHeader(name, value) {
    this.headers[name.toLowerCase()] = String(value);
  }
  writeHead(statusCode, headers = {}) {
    this.statusCode = statusCode;
    for (const [name, value] of Object.entries(headers)) this.setHeader(name, value);
  }
  end(chunk) {
    if (this.destroyed) return;
    this.destroyed = true;
    const body = chunk == null ? '' : String(chunk);
    this.port.postMessage({ id: this.id, statusCode: this.statusCode, headers: this.headers, body });
    this.emit('close');
  }
}

/**
 * The in-process way in: the runtime's own SDK clients (the main thread's and each handler thread's) send their
 * requests over a MessagePort, which only this process can hold, instead of over loopback HTTP. Each request takes
 * the same path as an HTTP one (the credential check, metering, admission, dynalite's own parsing and validation).
 */
/** Port requests dynalite has not answered yet: a close waits for them, since it closes the database under them. */
let portRequestsRunning = 0;
let closing = false;
let whenPortsIdle = () => {};
function servePort(port) {
  port.on('message', (message) => {
    if (closing) {
      // The database is about to close: a request let in now would fail inside dynalite, out of any answer.
      const body = JSON.stringify({
        __type: 'com.amazonaws.dynamodb.v20120810#ServiceUnavailableException',
        message: 'The DynamoDB stand-in is stopping.',
      });
      port.postMessage({ id: message.id, statusCode: 503, headers: { 'content-type': 'application/x-amz-json-1.0' }, body });
      return;
    }
    const req = new PassThrough();
    Object.assign(req, { headers: message.headers, method: message.method, url: message.path });
    const res = new PortResponse(port, message.id);
    portRequestsRunning += 1;
    res.once('close', () => {
      portRequestsRunning -= 1;
      if (portRequestsRunning === 0) whenPortsIdle();
    });
    serve(req, res);
    req.end(message.body);
  });
  // A caller gone (its thread ended): the port closes with it.
  port.on('close', () => port.removeAllListeners());
}

server.on('error', (err) => parentPort.postMessage({ type: 'error', message: err.message, code: err.code }));
server.listen(0, workerData.host, () => {
  parentPort.postMessage({ type: 'listening', port: server.address().port });
});
// The thread's heap, for the runtime's memory gauges (its RSS is the process's, shared with the main thread).
const memoryReport = setInterval(() => {
  const { heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
  parentPort.postMessage({ type: 'memory', heapUsed, heapTotal, external, arrayBuffers, openResources: openResources.size });
}, 5000);
memoryReport.unref();

parentPort.on('message', (msg) => {
  if (msg?.type === 'port') servePort(msg.port);
  if (msg === 'capacity') report();
  if (msg === 'resources') parentPort.postMessage({ type: 'resources', open: openResources.size });
  if (msg === 'close' && !closing) {
    closing = true;
    clearInterval(reporter);
    const closeServer = () => server.close((err) => parentPort.postMessage({ type: 'closed', message: err?.message }));
    if (portRequestsRunning === 0) closeServer();
    else whenPortsIdle = closeServer;
  }
});
