/**
 * The local front door on one port: the dashboard, `/config.json`, the HTTP API under `/api` (through the
 * REST handler, as HTTP API payload format 2.0 events), the operations metrics at `/api/metrics` (Prometheus
 * text; CloudWatch's part in the cloud) and the WebSocket API under `/ws`.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, constants as zlibConstants, gzip } from 'node:zlib';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { AuthDecision } from '../lambdas/core/auth.js';
import { dashboardContentSecurityPolicy } from '../lambdas/shared/csp.js';
import { openApiJson } from '../lambdas/shared/openapi.js';
import type { LocalAuthIssuer } from './auth-issuer.js';
import type { WebSocketGateway } from './gateway.js';
import { createHostPolicy } from './host-policy.js';

type HttpHandler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;

export interface HttpServerOptions {
  /** The address the server listens on: with its port, the only Host (and page Origin) it answers. */
  host: string;
  /** Further origins trusted as the dashboard's (e.g. the Vite dev server's). @default none */
  allowedOrigins?: readonly string[];
  staticDir: string;
  gateway: WebSocketGateway;
  handler: () => Promise<HttpHandler>;
  /** False while a part of the system is not ready: `/api/health` then answers 503. */
  ready: () => boolean;
  /** Sign-in on (`AUTH=on`): the local issuer serves `/auth/*` and the `/config.json` auth block. */
  authIssuer?: LocalAuthIssuer | null;
  /** Sign-in on: decides a `/api` request (but `/api/health`) from its Authorization header. */
  authorizeApi?: ((authorization: string | undefined) => Promise<AuthDecision>) | null;
  /** The operations metrics in the Prometheus text format, for `GET /api/metrics`. */
  metrics: () => string;
  log: (entry: Record<string, unknown>) => void;
}

/** Locally the API, the WebSocket and the sign-in issuer all share the dashboard's origin ('self'). */
const DASHBOARD_CSP = dashboardContentSecurityPolicy([]);

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

/** A header echoed into a log line, cut short: it is whatever the client sent. */
function capField(value: string | undefined): string | undefined {
  return value === undefined || value.length <= 200 ? value : `${value.slice(0, 200)}…`;
}

/** The largest request body the local API reads. */
const MAX_API_BODY = 256 * 1024;

/** The body as text, or undefined when it is over MAX_API_BODY (the rest is not kept). */
function readApiBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_API_BODY) chunks.push(c);
    });
    req.on('end', () => resolve(size > MAX_API_BODY ? undefined : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Types worth compressing (images and fonts here are already compressed). */
const COMPRESSIBLE = new Set(['.html', '.js', '.mjs', '.css', '.json', '.svg', '.txt', '.map']);
/** Under this size, compression saves less than its headers cost. */
const COMPRESS_MIN_BYTES = 1024;
/** Files larger than this are streamed as they are (the dashboard's largest is ~120 KB). */
const COMPRESS_MAX_BYTES = 8 * 1024 * 1024;
/** The compressed answers kept in memory, at most (files × encodings), oldest dropped first. */
const COMPRESSED_CACHE_BYTES = 16 * 1024 * 1024;

export type ContentEncoding = 'br' | 'gzip';

/**
 * The encoding to answer with, from an Accept-Encoding header: brotli before gzip when both are acceptable,
 * `q=0` refusing one, `*` standing for any not named. Null: send the file as it is.
 */
export function pickEncoding(header: string | undefined): ContentEncoding | null {
  if (!header) return null;
  const q = new Map<string, number>();
  for (const part of header.toLowerCase().split(',')) {
    const [name, ...params] = part.trim().split(';');
    if (!name) continue;
    let weight = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/.exec(p);
      if (m) weight = Number(m[1]);
    }
    q.set(name.trim(), Number.isFinite(weight) ? weight : 0);
  }
  const weightOf = (name: string) => q.get(name) ?? q.get('*') ?? 0;
  const br = weightOf('br');
  const gz = Math.max(weightOf('gzip'), q.get('x-gzip') ?? 0);
  if (br > 0 && br >= gz) return 'br';
  if (gz > 0) return 'gzip';
  return null;
}

const brotli = promisify(brotliCompress);
const gzipAsync = promisify(gzip);

/** Compressed copies of the dashboard's files, keyed by path, mtime and encoding; bounded in bytes. */
class CompressedFiles {
  private readonly entries = new Map<string, Promise<Buffer>>();
  private readonly sizes = new Map<string, number>();
  private bytes = 0;

  /**
   * Compresses the dashboard's files (brotli, what browsers ask for) before anyone asks: brotli at quality 11
   * takes a loaded machine seconds for the script, which the first page load would otherwise wait for.
   */
  async warm(dir: string): Promise<void> {
    const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
    for (const entry of entries) {
      const file = path.join(entry.parentPath, entry.name);
      if (!entry.isFile() || !COMPRESSIBLE.has(path.extname(file))) continue;
      const info = await stat(file).catch(() => undefined);
      if (!info || info.size < COMPRESS_MIN_BYTES || info.size > COMPRESS_MAX_BYTES) continue;
      await this.get(file, info.mtimeMs, 'br').catch(() => undefined);
    }
  }

  get(file: string, mtimeMs: number, encoding: ContentEncoding): Promise<Buffer> {
    const key = `${encoding}:${mtimeMs}:${file}`;
    const held = this.entries.get(key);
    if (held) return held;
    const made = readFile(file).then((raw) =>
      encoding === 'br'
        ? brotli(raw, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 11, [zlibConstants.BROTLI_PARAM_SIZE_HINT]: raw.length } })
        : gzipAsync(raw, { level: 9 }),
    );
    this.entries.set(key, made);
    made.then(
      (buf) => {
        if (!this.entries.has(key)) return;
        this.sizes.set(key, buf.length);
        this.bytes += buf.length;
        // Oldest first (a Map iterates in insertion order); a rebuilt file's old copies go this way too.
        for (const [old, size] of this.sizes) {
          if (this.bytes <= COMPRESSED_CACHE_BYTES) break;
          this.entries.delete(old);
          this.sizes.delete(old);
          this.bytes -= size;
        }
      },
      () => this.entries.delete(key),
    );
    return made;
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

/** A document answered to GET, or its headers alone to HEAD. */
function sendDocument(req: IncomingMessage, res: ServerResponse, text: string, contentType: string, cacheControl: string): void {
  res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(text), 'cache-control': cacheControl });
  res.end(req.method === 'HEAD' ? undefined : text);
}

/** The HTTP API v2 event API Gateway would send for this request. */
export function toHttpApiEvent(req: IncomingMessage, url: URL, apiPath: string): APIGatewayProxyEventV2 {
  const query: Record<string, string> = {};
  // API Gateway joins repeated parameters with commas.
  for (const key of new Set(url.searchParams.keys())) query[key] = url.searchParams.getAll(key).join(',');
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(',') : v;
  const now = Date.now();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: apiPath,
    rawQueryString: url.search.slice(1),
    headers,
    queryStringParameters: Object.keys(query).length > 0 ? query : undefined,
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'local',
      http: {
        method: req.method ?? 'GET',
        path: apiPath,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: new Date(now).toISOString(),
      timeEpoch: now,
    },
    isBase64Encoded: false,
  };
}

async function serveStatic(
  staticDir: string,
  pathname: string,
  res: ServerResponse,
  method: string,
  acceptEncoding: string | undefined,
  compressed: CompressedFiles,
): Promise<void> {
  let relative: string;
  try {
    relative = decodeURIComponent(pathname);
  } catch {
    return sendJson(res, 400, { error: { code: 'BAD_REQUEST', message: 'bad URL encoding' } });
  }
  const root = path.resolve(staticDir);
  let file = path.resolve(root, `.${path.posix.normalize(relative)}`);
  if (file !== root && !file.startsWith(root + path.sep)) return sendJson(res, 404, { error: { code: 'NOT_FOUND', message: 'not found' } });
  let info = await stat(file).catch(() => undefined);
  if (info?.isDirectory()) {
    file = path.join(file, 'index.html');
    info = await stat(file).catch(() => undefined);
  }
  if (!info) {
    // SPA routes (no file extension) get the app; a missing asset is a real 404.
    if (path.extname(relative) !== '') return sendJson(res, 404, { error: { code: 'NOT_FOUND', message: `no file ${relative}` } });
    file = path.join(root, 'index.html');
    info = await stat(file).catch(() => undefined);
    if (!info) return sendJson(res, 404, { error: { code: 'NOT_FOUND', message: 'the dashboard is not built' } });
  }
  const immutable = relative.startsWith('/assets/');
  const ext = path.extname(file);
  const headers: Record<string, string | number> = {
    'content-type': CONTENT_TYPES[ext] ?? 'application/octet-stream',
    'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    'x-content-type-options': 'nosniff',
    'content-security-policy': DASHBOARD_CSP,
  };
  const compressible = COMPRESSIBLE.has(ext) && info.size >= COMPRESS_MIN_BYTES && info.size <= COMPRESS_MAX_BYTES;
  if (compressible) {
    // Caches between here and the browser must keep one copy per encoding.
    headers.vary = 'Accept-Encoding';
    const encoding = pickEncoding(acceptEncoding);
    if (encoding) {
      const body = await compressed.get(file, info.mtimeMs, encoding);
      res.writeHead(200, { ...headers, 'content-encoding': encoding, 'content-length': body.length });
      return void res.end(method === 'HEAD' ? undefined : body);
    }
  }
  res.writeHead(200, { ...headers, 'content-length': info.size });
  if (method === 'HEAD') return void res.end();
  createReadStream(file).pipe(res);
}

export function createHttpServer(options: HttpServerOptions): http.Server {
  const { gateway, log } = options;
  const hosts = createHostPolicy(options.host, () => (server.address() as AddressInfo | null)?.port ?? 0, options.allowedOrigins);
  const compressed = new CompressedFiles();
  void compressed.warm(path.resolve(options.staticDir));

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://local');
    // A name that is not this server's (a DNS-rebinding page, a forged Host) gets nothing, not even endpoints.
    if (!hosts.isOwnHost(req.headers.host)) {
      return sendJson(res, 421, { error: { code: 'MISDIRECTED_REQUEST', message: 'this server does not answer for that Host' } });
    }
    const host = req.headers.host || hosts.canonicalHost();
    if (url.pathname === '/config.json') {
      // Sign-in off: `auth` is null (contract §5).
      const auth = options.authIssuer ? options.authIssuer.config(host) : null;
      return sendJson(res, 200, { apiUrl: `http://${host}/api`, wsUrl: `ws://${host}/ws`, auth });
    }
    if (options.authIssuer && (url.pathname === '/auth' || url.pathname.startsWith('/auth/'))) {
      if (await options.authIssuer.handle(req, res, url)) return;
      return sendJson(res, 404, { error: { code: 'NOT_FOUND', message: 'not found' } });
    }
    const readOnly = req.method === 'GET' || req.method === 'HEAD';
    if (url.pathname === '/api/metrics' && readOnly) {
      return sendDocument(req, res, options.metrics(), 'text/plain; version=0.0.4; charset=utf-8', 'no-store');
    }
    // The API's description is public, as /api/health is: no sign-in.
    if (url.pathname === '/api/openapi.json' && readOnly) {
      return sendDocument(req, res, openApiJson(), 'application/json; charset=utf-8', 'no-cache');
    }
    if (url.pathname === '/api' || url.pathname.startsWith('/api/')) {
      const apiPath = url.pathname.slice('/api'.length) || '/';
      if (apiPath === '/health' && !options.ready()) return sendJson(res, 503, { status: 'starting' });
      // API Gateway's JWT authorizer stands before every route but /health in the cloud.
      let claims: Record<string, unknown> | undefined;
      if (options.authorizeApi && apiPath !== '/health') {
        const decision = await options.authorizeApi(req.headers.authorization);
        if (!decision.ok) return sendJson(res, decision.status, { error: { code: decision.code, message: decision.message } });
        claims = decision.claims;
      }
      // Only the alert routes take a body (a rule); API Gateway's own limit is far larger, ours bounds memory.
      let requestBody: string | undefined;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        requestBody = await readApiBody(req);
        if (requestBody === undefined)
          return sendJson(res, 413, { error: { code: 'PAYLOAD_TOO_LARGE', message: `the body is over ${MAX_API_BODY} bytes` } });
      }
      const handler = await options.handler();
      const event = toHttpApiEvent(req, url, apiPath);
      if (requestBody !== undefined) Object.assign(event, { body: requestBody, isBase64Encoded: false });
      if (claims) Object.assign(event.requestContext, { authorizer: { jwt: { claims, scopes: null } } });
      const result = await handler(event);
      const body = result.body ?? '';
      res.writeHead(result.statusCode ?? 200, { ...(result.headers as Record<string, string>), 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return sendJson(res, 405, { error: { code: 'METHOD_NOT_ALLOWED', message: 'only GET is supported' } });
    }
    return serveStatic(options.staticDir, url.pathname, res, req.method, req.headers['accept-encoding'], compressed);
  }

  const server: http.Server = http.createServer((req, res) => {
    route(req, res).catch((err: Error) => {
      log({ level: 'error', message: 'request failed', url: req.url, error: err.message });
      if (!res.headersSent) sendJson(res, 500, { error: { code: 'INTERNAL', message: 'the request could not be answered' } });
      else res.destroy();
    });
  });
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    const pathname = new URL(req.url ?? '/', 'http://local').pathname;
    // Browsers send the page's Origin on a WebSocket upgrade and never let a page forge it.
    if (!hosts.isOwnHost(req.headers.host) || !hosts.isAllowedOrigin(req.headers.origin)) {
      log({
        level: 'warn',
        message: 'WebSocket upgrade refused: foreign Host or Origin',
        host: capField(req.headers.host),
        origin: capField(req.headers.origin),
      });
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    if (pathname === '/ws' || pathname === '/ws/') gateway.handleUpgrade(req, socket, head);
    else {
      socket.write('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      socket.destroy();
    }
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  return server;
}
