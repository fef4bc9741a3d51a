/**
 * The WebSocket gateway: the stand-in for API Gateway's WebSocket API. Browser connections on `/ws` become
 * CONNECT / MESSAGE / DISCONNECT events for the very handler Lambda runs (route selection on the frame's
 * `action`), and the management API (`post`, `disconnect`, `info`) reaches them back.
 */
import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { APIGatewayAuthorizerResult, APIGatewayProxyWebsocketEventV2, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { WS_ACTIONS } from '../lambdas/shared/contract.js';
import { WebSocketServer, type WebSocket } from 'ws';

/** API Gateway's WebSocket frame size limit. */
export const MAX_FRAME_BYTES = 32 * 1024;
/** The routes of the cloud's WebSocket API besides $connect, $disconnect and $default. */
const ACTION_ROUTES = WS_ACTIONS;

type WebSocketHandler = (event: APIGatewayProxyWebsocketEventV2) => Promise<unknown>;
type AuthorizerHandler = (event: APIGatewayRequestAuthorizerEvent) => Promise<APIGatewayAuthorizerResult>;

interface Connection {
  socket: WebSocket;
  connectedAt: number;
  lastActiveAt: number;
  sourceIp: string;
  /** Frames of one connection are handled in order. */
  queue: Promise<void>;
  /** The $connect authorizer's principalId and context, in every event's requestContext as API Gateway does. */
  authorizer?: Record<string, unknown>;
}

export interface GatewayOptions {
  handler: () => Promise<WebSocketHandler>;
  domainName: string;
  stage: string;
  log: (entry: Record<string, unknown>) => void;
  /** A REQUEST authorizer on $connect (identity source: the `token` query parameter), as with sign-in on. */
  authorizer?: (() => Promise<AuthorizerHandler>) | null;
  /** Told of what API Gateway bills: each frame either way, and how long each connection is open. */
  meter?: GatewayMeter;
}

export interface GatewayMeter {
  onWebSocketFrame(bytes: number): void;
  onWebSocketOpen(connectionId: string): void;
  onWebSocketClose(connectionId: string): void;
}

/** The route API Gateway selects with `$request.body.action`. */
export function selectRoute(body: string): string {
  try {
    const frame = JSON.parse(body) as { action?: unknown };
    if (typeof frame?.action === 'string' && (ACTION_ROUTES as readonly string[]).includes(frame.action)) {
      return frame.action;
    }
  } catch {
    // not JSON: the default route answers it
  }
  return '$default';
}

export class WebSocketGateway {
  private readonly connections = new Map<string, Connection>();
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });

  constructor(private readonly options: GatewayOptions) {}

  get size(): number {
    return this.connections.size;
  }

  private event(
    connectionId: string,
    routeKey: string,
    eventType: 'CONNECT' | 'MESSAGE' | 'DISCONNECT',
    conn: Pick<Connection, 'connectedAt' | 'sourceIp' | 'authorizer'>,
    body?: string,
  ): APIGatewayProxyWebsocketEventV2 {
    const now = Date.now();
    return {
      requestContext: {
        routeKey,
        eventType,
        messageId: eventType === 'MESSAGE' ? randomUUID() : undefined,
        extendedRequestId: randomUUID(),
        requestTime: new Date(now).toUTCString(),
        messageDirection: 'IN',
        stage: this.options.stage,
        connectedAt: conn.connectedAt,
        requestTimeEpoch: now,
        requestId: randomUUID(),
        domainName: this.options.domainName,
        connectionId,
        apiId: 'local',
        ...(conn.authorizer ? { authorizer: conn.authorizer } : {}),
      },
      body,
      isBase64Encoded: false,
    } as APIGatewayProxyWebsocketEventV2;
  }

  /** Upgrades an HTTP request on `/ws`; the $connect handler decides whether the connection stays. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (!this.options.authorizer) {
      this.wss.handleUpgrade(req, socket, head, (ws) => void this.accept(ws, req));
      return;
    }
    void this.authorizeConnect(req).then(
      (outcome) => {
        if (typeof outcome === 'number') {
          const reason = outcome === 401 ? 'Unauthorized' : outcome === 403 ? 'Forbidden' : 'Internal Server Error';
          socket.end(`HTTP/1.1 ${outcome} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
          return;
        }
        this.wss.handleUpgrade(req, socket, head, (ws) => void this.accept(ws, req, outcome));
      },
      () => socket.destroy(),
    );
  }

  /**
   * Runs the $connect authorizer with the REQUEST event API Gateway sends: the authorizer context, or the
   * status API Gateway answers the upgrade with (401 for 'Unauthorized', 403 for a Deny, 500 otherwise).
   */
  private async authorizeConnect(req: IncomingMessage): Promise<Record<string, unknown> | number> {
    const url = new URL(req.url ?? '/', 'http://local');
    const query: Record<string, string> = {};
    for (const [key, value] of url.searchParams) query[key] = value;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(',') : v;
    const methodArn = `arn:aws:execute-api:local:000000000000:local/${this.options.stage}/$connect`;
    const event = {
      type: 'REQUEST',
      methodArn,
      headers,
      queryStringParameters: query,
      stageVariables: {},
      requestContext: {
        routeKey: '$connect',
        eventType: 'CONNECT',
        extendedRequestId: randomUUID(),
        requestTime: new Date().toUTCString(),
        messageDirection: 'IN',
        stage: this.options.stage,
        connectedAt: Date.now(),
        requestTimeEpoch: Date.now(),
        identity: { sourceIp: req.socket.remoteAddress ?? '127.0.0.1', userAgent: headers['user-agent'] ?? '' },
        requestId: randomUUID(),
        domainName: this.options.domainName,
        connectionId: randomUUID(),
        apiId: 'local',
      },
    } as unknown as APIGatewayRequestAuthorizerEvent;
    let result: APIGatewayAuthorizerResult;
    try {
      result = await (await this.options.authorizer!())(event);
    } catch (err) {
      if ((err as Error).message === 'Unauthorized') return 401;
      this.options.log({ level: 'error', message: '$connect authorizer failed', error: (err as Error).message });
      return 500;
    }
    const allowed = result.policyDocument.Statement.some(
      (s) => s.Effect === 'Allow' && 'Resource' in s && [s.Resource].flat().some((r) => r === methodArn || r === '*'),
    );
    if (!allowed) return 403;
    return { principalId: result.principalId, ...(result.context ?? {}) };
  }

  private async accept(ws: WebSocket, req: IncomingMessage, authorizer?: Record<string, unknown>): Promise<void> {
    const connectionId = `${randomUUID().replace(/-/g, '').slice(0, 16)}=`;
    const now = Date.now();
    const conn: Connection = {
      socket: ws,
      connectedAt: now,
      lastActiveAt: now,
      sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
      queue: Promise.resolve(),
      authorizer,
    };
    const pending: Buffer[] = [];
    ws.on('message', (data: Buffer, isBinary) => {
      this.options.meter?.onWebSocketFrame(data.length);
      if (!this.connections.has(connectionId)) pending.push(data);
      else this.receive(connectionId, conn, data, isBinary);
    });
    ws.on('error', (err) => this.options.log({ level: 'warn', message: 'websocket error', connectionId, error: err.message }));
    ws.on('close', () => {
      if (!this.connections.delete(connectionId)) return;
      this.options.meter?.onWebSocketClose(connectionId);
      conn.queue = conn.queue.then(() => this.invoke(this.event(connectionId, '$disconnect', 'DISCONNECT', conn)));
    });
    try {
      const handler = await this.options.handler();
      await handler(this.event(connectionId, '$connect', 'CONNECT', conn));
    } catch (err) {
      this.options.log({ level: 'error', message: '$connect failed; connection refused', error: (err as Error).message });
      ws.close(1011, 'connect failed');
      return;
    }
    if (ws.readyState !== ws.OPEN) {
      await this.invoke(this.event(connectionId, '$disconnect', 'DISCONNECT', conn));
      return;
    }
    this.connections.set(connectionId, conn);
    this.options.meter?.onWebSocketOpen(connectionId);
    for (const data of pending.splice(0)) this.receive(connectionId, conn, data, false);
  }

  private receive(connectionId: string, conn: Connection, data: Buffer, isBinary: boolean): void {
    conn.lastActiveAt = Date.now();
    const body = isBinary ? data.toString('base64') : data.toString('utf8');
    const routeKey = selectRoute(body);
    conn.queue = conn.queue.then(() => this.invoke(this.event(connectionId, routeKey, 'MESSAGE', conn, body)));
  }

  private async invoke(event: APIGatewayProxyWebsocketEventV2): Promise<void> {
    try {
      const handler = await this.options.handler();
      await handler(event);
    } catch (err) {
      // API Gateway answers a failed integration with an error message to the client; so do we.
      this.options.log({
        level: 'error',
        message: 'websocket handler failed',
        routeKey: event.requestContext.routeKey,
        error: (err as Error).message,
      });
      const conn = this.connections.get(event.requestContext.connectionId);
      if (conn && event.requestContext.eventType === 'MESSAGE') {
        conn.socket.send(JSON.stringify({ message: 'Internal server error', connectionId: event.requestContext.connectionId }));
      }
    }
  }

  /** PostToConnection: false when the connection is gone (410). */
  async post(connectionId: string, data: Buffer): Promise<boolean> {
    const conn = this.connections.get(connectionId);
    if (!conn || conn.socket.readyState !== conn.socket.OPEN) return false;
    this.options.meter?.onWebSocketFrame(data.length);
    // A text frame from the bytes as they are (one frame fanned out to many connections is not decoded and
    // re-encoded per connection); bytes that are not UTF-8 are decoded as before, so a frame is always text.
    const text = isUtf8(data) ? data : data.toString('utf8');
    await new Promise<void>((resolve, reject) => conn.socket.send(text, { binary: false }, (err) => (err ? reject(err) : resolve())));
    return true;
  }

  disconnect(connectionId: string): boolean {
    const conn = this.connections.get(connectionId);
    if (!conn) return false;
    conn.socket.close(1000, 'closed by the server');
    return true;
  }

  /** Drops a connection without a close handshake, as a network failure would (tests and drills). */
  terminate(connectionId: string): boolean {
    const conn = this.connections.get(connectionId);
    if (!conn) return false;
    conn.socket.terminate();
    return true;
  }

  info(connectionId: string) {
    const conn = this.connections.get(connectionId);
    if (!conn) return undefined;
    return {
      ConnectedAt: new Date(conn.connectedAt).toISOString(),
      LastActiveAt: new Date(conn.lastActiveAt).toISOString(),
      Identity: { SourceIp: conn.sourceIp, UserAgent: '' },
    };
  }

  connectionIds(): string[] {
    return [...this.connections.keys()];
  }

  /** Closes every connection and waits for their $disconnect events. */
  async close(): Promise<void> {
    const all = [...this.connections.values()];
    for (const conn of all) conn.socket.terminate();
    await Promise.all(all.map((c) => c.queue));
    await new Promise<void>((resolve) => setImmediate(resolve));
    await Promise.all([...this.connections.values(), ...all].map((c) => c.queue));
    this.wss.close();
  }
}

/**
 * The handlers' LiveSender in local mode: frames go straight into the gateway, as PostToConnection would put
 * them (a connection that is gone answers `gone`, as the management API's 410). The management API stand-in
 * (`/@connections/{id}`) still serves any SDK client.
 */
export class GatewayLiveSender {
  /** The last frame serialized: one frame sent to many connections is serialized once. */
  private last: { frame: unknown; data: Buffer } | undefined;

  constructor(private readonly gateway: WebSocketGateway) {}

  async send(connectionId: string, frame: unknown): Promise<'sent' | 'gone'> {
    const last = this.last;
    const data = last !== undefined && last.frame === frame ? last.data : Buffer.from(JSON.stringify(frame));
    this.last = { frame, data };
    return (await this.gateway.post(connectionId, data)) ? 'sent' : 'gone';
  }
}
