/** The local server's dashboard files: brotli or gzip as the browser accepts, Vary, and the same bytes back. */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebSocketGateway } from '../../local/gateway.js';
import { createHttpServer, pickEncoding } from '../../local/http-server.js';

let dir: string;
let server: http.Server;
let base: string;
const script = `export const data = ${JSON.stringify(Array.from({ length: 2000 }, (_, i) => `reading-${i}`))};\n`;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'vigia-static-'));
  mkdirSync(path.join(dir, 'assets'));
  writeFileSync(path.join(dir, 'index.html'), `<!doctype html><title>vigia</title>${'<p>x</p>'.repeat(300)}`);
  writeFileSync(path.join(dir, 'assets', 'app.js'), script);
  writeFileSync(path.join(dir, 'assets', 'tiny.css'), 'a{}');
  server = createHttpServer({
    host: '127.0.0.1',
    staticDir: dir,
    gateway: {} as WebSocketGateway,
    handler: async () => async () => ({ statusCode: 200, body: '{}' }),
    ready: () => true,
    metrics: () => '',
    log: () => undefined,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

/** Raw bytes and headers (Node's fetch would decode the body itself). */
async function get(pathname: string, acceptEncoding?: string) {
  const { request } = await import('node:http');
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
    const req = request(base + pathname, { headers: acceptEncoding === undefined ? {} : { 'accept-encoding': acceptEncoding } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('dashboard files compressed', () => {
  it('answers brotli to a browser that accepts it, with Vary and the compressed length', async () => {
    const res = await get('/assets/app.js', 'gzip, deflate, br, zstd');
    expect(res.headers['content-encoding']).toBe('br');
    expect(res.headers.vary).toBe('Accept-Encoding');
    expect(Number(res.headers['content-length'])).toBe(res.body.length);
    expect(res.body.length).toBeLessThan(Buffer.byteLength(script) / 4);
    expect(brotliDecompressSync(res.body).toString('utf8')).toBe(script);
  });

  it('answers gzip when brotli is not accepted, and the file itself when nothing is', async () => {
    const gz = await get('/assets/app.js', 'gzip;q=1, br;q=0');
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.body).toString('utf8')).toBe(script);
    const plain = await get('/assets/app.js');
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.headers.vary).toBe('Accept-Encoding');
    expect(plain.body.toString('utf8')).toBe(script);
  });

  it('compresses index.html and SPA routes too, but not a file too small to gain', async () => {
    const route = await get('/sensors/a', 'br');
    expect(route.headers['content-encoding']).toBe('br');
    expect(brotliDecompressSync(route.body).toString('utf8')).toMatch(/^<!doctype html>/);
    const tiny = await get('/assets/tiny.css', 'br');
    expect(tiny.headers['content-encoding']).toBeUndefined();
    expect(tiny.body.toString('utf8')).toBe('a{}');
  });

  it('reads Accept-Encoding by its q-values', () => {
    expect(pickEncoding(undefined)).toBeNull();
    expect(pickEncoding('identity')).toBeNull();
    expect(pickEncoding('br;q=0, gzip;q=0')).toBeNull();
    expect(pickEncoding('*')).toBe('br');
    expect(pickEncoding('*, br;q=0')).toBe('gzip');
    expect(pickEncoding('gzip;q=0.8, br;q=0.5')).toBe('gzip');
    expect(pickEncoding('GZIP')).toBe('gzip');
  });
});
