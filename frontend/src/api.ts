/** The HTTP API (contract §5), at the `apiUrl` that `/config.json` names. */
import { ApiError, MAX_LIMIT, type SensorView } from '../../lambdas/shared/contract.js';
import { NO_ROLE_MESSAGE } from './auth.js';
import type { Bucket, Reading, Resolution, Series } from './data.js';

export interface DashboardConfig {
  apiUrl: string;
  wsUrl: string;
  auth: null | Record<string, unknown>;
}

/** A sensor as the API shows it (contract §5). */
export type SensorInfo = SensorView;

export { ApiError };

export async function loadConfig(): Promise<DashboardConfig> {
  const res = await fetch('/config.json', { cache: 'no-store' });
  if (!res.ok) throw new Error(`/config.json answered ${res.status}`);
  const config = (await res.json()) as DashboardConfig;
  if (typeof config.apiUrl !== 'string' || typeof config.wsUrl !== 'string') {
    throw new Error('/config.json lacks apiUrl or wsUrl');
  }
  return config;
}

export interface ReadingsQuery {
  from: number;
  to: number;
  metrics?: string[];
  resolution?: Resolution | 'auto';
  limit?: number;
}

export { BATCH_MAX_SENSORS } from '../../lambdas/shared/contract.js';

interface ReadingsPage {
  resolution: Resolution;
  points: Reading[] | Bucket[];
  nextCursor: string | null;
}

export interface ApiAuth {
  /** The ID token to send as `Authorization: Bearer`, when sign-in is on. */
  token(): string | null;
  /** The API refused the token (401): time to sign in again. */
  onUnauthorized(): void;
  /** The API knows the user but grants no role (403). */
  onForbidden(): void;
}

export class Api {
  private readonly base: string;

  constructor(
    apiUrl: string,
    private readonly auth: ApiAuth | null = null,
  ) {
    this.base = apiUrl.replace(/\/+$/, '');
  }

  private async get<T>(path: string, signal?: AbortSignal): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    const token = this.auth?.token();
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(this.base + path, { signal, headers });
    if (!res.ok) {
      const body = (await res.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
      if (res.status === 401 && this.auth) this.auth.onUnauthorized();
      if (res.status === 403 && this.auth) {
        this.auth.onForbidden();
        throw new ApiError(403, body?.error?.code ?? 'FORBIDDEN', NO_ROLE_MESSAGE);
      }
      throw new ApiError(res.status, body?.error?.code ?? 'HTTP_ERROR', body?.error?.message ?? `${path} answered ${res.status}`);
    }
    return (await res.json()) as T;
  }

  /** Any JSON request (the alert routes); errors as for GET. A 204 answers undefined. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const token = this.auth?.token();
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(this.base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (res.status === 204) return undefined as T;
    const json = (await res.json().catch(() => null)) as (T & { error?: { code?: string; message?: string } }) | null;
    if (!res.ok) {
      if (res.status === 401 && this.auth) this.auth.onUnauthorized();
      throw new ApiError(res.status, json?.error?.code ?? 'HTTP_ERROR', json?.error?.message ?? `${path} answered ${res.status}`);
    }
    return json as T;
  }

  /**
   * The whole fleet: follows `nextCursor` page after page (a server that does not page answers in one).
   * `firstPage` asks a small first page (the first screen, by name) and hands each page to `onPage` as it
   * comes, so a view can show cards before a fleet of thousands is listed.
   */
  async sensors(
    signal?: AbortSignal,
    maxPages = 1000,
    progress?: { firstPage: number; onPage: (soFar: SensorInfo[]) => void },
  ): Promise<SensorInfo[]> {
    const all: SensorInfo[] = [];
    let cursor: string | null = null;
    const seen = new Set<string>();
    for (let pages = 0; pages < maxPages; pages++) {
      const query = new URLSearchParams();
      if (pages === 0 && progress) query.set('limit', String(progress.firstPage));
      if (cursor !== null) query.set('cursor', cursor);
      const q = query.toString();
      const path: string = q === '' ? '/sensors' : `/sensors?${q}`;
      const page: { sensors: SensorInfo[]; nextCursor?: string | null } = await this.get(path, signal);
      for (const s of page.sensors) all.push(s);
      cursor = page.nextCursor ?? null;
      // A cursor seen before would loop for ever.
      if (cursor === null || seen.has(cursor)) break;
      seen.add(cursor);
      progress?.onPage(all);
    }
    return all;
  }

  /**
   * Recent points of many sensors in one request (`GET /readings?sensorIds=…`, at most `BATCH_MAX_SENSORS`
   * ids, `BATCH_MAX_POINTS` points each): the fleet's sparklines.
   */
  async readingsOfMany(sensorIds: string[], query: ReadingsQuery, signal?: AbortSignal): Promise<Array<{ sensorId: string } & Series>> {
    const params = new URLSearchParams({
      sensorIds: sensorIds.join(','),
      from: String(query.from),
      to: String(query.to),
      resolution: query.resolution ?? 'auto',
      limit: String(query.limit ?? 100),
    });
    if (query.metrics?.length) params.set('metrics', query.metrics.join(','));
    const answer = await this.get<{ series: Array<{ sensorId: string } & ReadingsPage> }>(`/readings?${params}`, signal);
    return answer.series as Array<{ sensorId: string } & Series>;
  }

  sensor(sensorId: string, signal?: AbortSignal): Promise<SensorInfo> {
    return this.get<SensorInfo>(`/sensors/${encodeURIComponent(sensorId)}`, signal);
  }

  /** Every page of a readings query, up to `maxPages` (the first page fixes the resolution). */
  async readings(sensorId: string, query: ReadingsQuery, signal?: AbortSignal, maxPages = 20): Promise<Series & { truncated: boolean }> {
    const params = new URLSearchParams({
      from: String(query.from),
      to: String(query.to),
      resolution: query.resolution ?? 'auto',
      limit: String(query.limit ?? MAX_LIMIT),
    });
    if (query.metrics?.length) params.set('metrics', query.metrics.join(','));
    const path = `/sensors/${encodeURIComponent(sensorId)}/readings?`;
    let page = await this.get<ReadingsPage>(path + params, signal);
    const resolution = page.resolution;
    const points: Array<Reading | Bucket> = [...page.points];
    let pages = 1;
    while (page.nextCursor && pages < maxPages) {
      params.set('cursor', page.nextCursor);
      params.set('resolution', resolution);
      page = await this.get<ReadingsPage>(path + params, signal);
      for (const p of page.points) points.push(p);
      pages++;
    }
    return { resolution, points, truncated: Boolean(page.nextCursor) } as Series & { truncated: boolean };
  }
}
