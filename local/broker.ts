/**
 * The local MQTT broker: the stand-in for AWS IoT Core's message broker (contract §1, §2, §7).
 * aedes serves MQTT 3.1.1 and 5 on a TCP port (identity = client id) and a mutual-TLS port
 * (identity = the client certificate's CN), with the same rules as the cloud IoT policy, and emits
 * AWS-shaped lifecycle events on `$aws/events/presence/...`.
 *
 * Every accepted message (device telemetry, presence events, and whatever `publish()` sends) goes to the
 * `onMessage` listeners (the rule runner). For a device PUBLISH the listeners run inside aedes'
 * `authorizePublish` hook, which aedes awaits before it writes the PUBACK, so an acknowledged reading has
 * been handed over; one client's messages are handed over and acknowledged in arrival order. When a
 * listener fails, the error is logged and the device's message is not acknowledged: its connection is
 * closed, so the device sends it again after reconnecting.
 *
 * Refusals, as aedes 2 carries them: a CONNECT refused in `authenticate` gets CONNACK 0x02/0x05 (3.1.1) or
 * its MQTT 5 mapping 0x85/0x87; a PUBLISH refused in `authorizePublish` closes a 3.1.1 connection and is
 * answered PUBACK 0x87 in MQTT 5; a SUBSCRIBE refused in `authorizeSubscribe` gets SUBACK 0x80 / 0x87. A payload
 * over 128 KiB is refused from `authorizePublish` with `client.disconnect({ reasonCode: 0x95 })`: MQTT 5
 * clients get DISCONNECT 0x95, 3.1.1 connections are closed; a frame over AWS's Maximum Packet Size is
 * refused the same way by aedes itself before it is buffered.
 */
import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { Aedes, type Client, type PublishPacket } from 'aedes';
import { MAX_PAYLOAD_BYTES, SENSOR_ID_PATTERN, TOPICS } from '../lambdas/shared/names.js';
import { parseBasicIngestTopic } from '../lambdas/shared/rules.js';
import { boundedLog } from './bounded-log.js';
import { ensureBrokerCert, ensureCa } from './ca.js';

export interface BrokerOptions {
  /** Interface both ports listen on, e.g. `127.0.0.1`. */
  host: string;
  /** Plain MQTT port (identity = client id); 0 picks a free one. */
  mqttPort: number;
  /** Mutual-TLS MQTT port (identity = certificate CN); 0 picks a free one. */
  mqttsPort: number;
  /** Data folder; the CA and the broker's certificate are kept in `<dataDir>/certs/`. */
  dataDir: string;
  /** Structured log sink. @default one JSON line per entry on stdout */
  log?: (entry: BrokerLogEntry) => void;
  /** How long a TLS handshake on the mutual-TLS port may take before the socket is closed. @default 10 000 ms */
  tlsHandshakeTimeoutMs?: number;
  /** How long a connection may stay open before its CONNECT is accepted. @default 30 000 ms */
  connectTimeoutMs?: number;
  /**
   * The most sockets (both ports) open at once whose CONNECT is not yet accepted; more are closed on arrival,
   * so stalled handshakes cannot exhaust the process's file descriptors. @default 1000
   */
  maxPendingConnections?: number;
  /**
   * Rules a device may reach by Basic Ingest, `$aws/rules/<rule>/sensors/<own sensorId>/telemetry`, as the
   * cloud's device policy allows for the telemetry rule of stream ingest. @default none
   */
  basicIngestRules?: readonly string[];
}

export interface BrokerLogEntry {
  level: 'info' | 'warn' | 'error';
  message: string;
  [field: string]: unknown;
}

export interface MessageMeta {
  /** The publishing device's client id; null for messages the broker itself publishes. */
  clientId: string | null;
  /** Epoch ms at which the broker accepted the message (IoT rules' `timestamp()`). */
  receivedAt: number;
}

export type MessageListener = (topic: string, payload: Buffer, meta: MessageMeta) => void | Promise<void>;

export interface LocalBroker {
  /** The actual ports (resolved when 0 was asked). */
  readonly mqttPort: number;
  readonly mqttsPort: number;
  /** Publishes as the system (no device authorization), e.g. a command; listeners see it too. */
  publish(topic: string, payload: Buffer, qos: 0 | 1): Promise<void>;
  /** Adds a listener for every accepted message; a device's PUBACK waits for all listeners. */
  onMessage(listener: MessageListener): void;
  /** Disconnects every client (presence `disconnected` events are still delivered) and stops listening. */
  close(): Promise<void>;
}

/** AWS lifecycle `disconnectReason` values the local broker produces. */
export type DisconnectReason =
  | 'CLIENT_INITIATED_DISCONNECT'
  | 'CONNECTION_LOST'
  | 'DUPLICATE_CLIENTID'
  | 'MQTT_KEEP_ALIVE_TIMEOUT'
  | 'AUTH_ERROR'
  | 'CLIENT_ERROR'
  | 'SERVER_INITIATED_DISCONNECT';

/**
 * AWS IoT Core's MQTT 5 Maximum Packet Size (advertised in its CONNACK). A larger frame is refused by aedes
 * before it is buffered whole; a smaller one whose payload is still over 128 KiB is refused here.
 */
const MAX_PACKET_BYTES = 149_504;
/** AWS IoT Core's Topic Alias Maximum for MQTT 5 clients. */
const TOPIC_ALIAS_MAXIMUM = 8;
/** AWS IoT Core's default (and here the most) a persistent MQTT 5 session outlives its connection: 1 hour. */
const SESSION_EXPIRY_LIMIT_SECONDS = 3600;

const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
const CONNECT_TIMEOUT_MS = 30_000;
const MAX_PENDING_CONNECTIONS = 1000;
/** A refusal repeated by a flood is logged at most this often, with the count since the last line. */
const FLOOD_LOG_INTERVAL_MS = 5000;

const CONNACK_IDENTIFIER_REJECTED = 2; // 0x85 in MQTT 5
const CONNACK_NOT_AUTHORIZED = 5; // 0x87 in MQTT 5
const DISCONNECT_PACKET_TOO_LARGE = 0x95;

interface Session {
  sessionIdentifier: string;
  principalIdentifier: string;
  ipAddress: string;
  /** The lifecycle events' versionNumber: a connect and its disconnect share one, as in AWS IoT (contract §6). */
  versionNumber?: number;
  /** Set when the broker knows why the connection is ending; otherwise decided at disconnect. */
  disconnectReason?: DisconnectReason;
}

function defaultLog(entry: BrokerLogEntry): void {
  console.log(JSON.stringify({ component: 'broker', ...entry }));
}

export async function startBroker(options: BrokerOptions): Promise<LocalBroker> {
  const log = boundedLog(options.log ?? defaultLog);
  const basicIngestRules = new Set(options.basicIngestRules ?? []);
  /** Basic Ingest of the client's own telemetry to an allowed rule (the IoT policy's statement). */
  const isOwnBasicIngest = (topic: string, clientId: string) => {
    const basic = parseBasicIngestTopic(topic);
    return basic !== undefined && basicIngestRules.has(basic.ruleName) && basic.topic === TOPICS.telemetry(clientId);
  };
  const ca = await ensureCa(options.dataDir);
  const serverFiles = await ensureBrokerCert(options.dataDir);
  const [serverKey, serverCert] = await Promise.all([readFile(serverFiles.keyPath, 'utf8'), readFile(serverFiles.certPath, 'utf8')]);

  const listeners: MessageListener[] = [];
  const inFlight = new Set<Promise<unknown>>();
  // The client id a CONNECT carried: aedes replaces an empty one with a generated id that would pass the pattern.
  const requestedClientIds = new WeakMap<Client, string>();
  const sessions = new WeakMap<Client, Session>();
  let lastVersion = 0;
  // A client's messages reach the listeners and get their PUBACKs in arrival order ([MQTT-4.6.0-2]).
  const deliveryChains = new WeakMap<Client, Promise<void>>();
  // Errors the broker raised itself to refuse something: already logged where raised.
  const refusals = new WeakSet<Error>();
  const addresses = new WeakMap<object, string>();
  let closing: Promise<void> | undefined;

  /** Hands a message to every listener; false when one of them failed (the message is not safely taken). */
  function notifyListeners(topic: string, payload: Buffer, meta: MessageMeta): Promise<boolean> {
    const run = Promise.all(
      listeners.map(async (listener) => {
        try {
          await listener(topic, payload, meta);
          return true;
        } catch (err) {
          log({ level: 'error', message: 'message listener failed', topic, clientId: meta.clientId, error: errorMessage(err) });
          return false;
        }
      }),
    ).then((results) => results.every(Boolean));
    inFlight.add(run);
    void run.finally(() => inFlight.delete(run));
    return run;
  }

  async function publishAsSystem(topic: string, payload: Buffer, qos: 0 | 1): Promise<void> {
    await notifyListeners(topic, payload, { clientId: null, receivedAt: Date.now() });
    // During close() the listeners still hear the final presence events, but aedes no longer routes.
    if (broker.closed) return;
    await new Promise<void>((resolve, reject) => {
      broker.publish({ cmd: 'publish', topic, payload, qos, retain: false, dup: false }, (err?: Error | null) =>
        err ? reject(err) : resolve(),
      );
    });
  }

  /**
   * Clock-based, so versions keep increasing across restarts of the broker (the registry keeps the last applied
   * one) and need no per-client memory; increasing overall is increasing per client id.
   */
  function versionOf(session: Session): number {
    if (session.versionNumber === undefined) session.versionNumber = lastVersion = Math.max(lastVersion + 1, Date.now());
    return session.versionNumber;
  }

  function publishPresence(eventType: 'connected' | 'disconnected', clientId: string, event: object): void {
    const topic = TOPICS.presence(eventType, clientId);
    publishAsSystem(topic, Buffer.from(JSON.stringify(event)), 1).catch((err: unknown) =>
      log({ level: 'error', message: 'presence event not published', topic, error: errorMessage(err) }),
    );
  }

  const broker = new Aedes({
    connectTimeout: options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
    maximumPacketSize: MAX_PACKET_BYTES,
    topicAliasMaximum: TOPIC_ALIAS_MAXIMUM,
    sessionExpiryIntervalLimit: SESSION_EXPIRY_LIMIT_SECONDS,

    preConnect(client, packet, callback) {
      requestedClientIds.set(client, packet.clientId ?? '');
      callback(null, true);
    },

    authenticate(client, _username, _password, callback) {
      const clientId = requestedClientIds.get(client) ?? '';
      const refuse = (returnCode: number, message: string) => {
        log({ level: 'warn', message: 'connection refused', reason: message, clientId, ipAddress: remoteAddress(client) });
        callback(Object.assign(refusal(message), { returnCode }) as never, false);
      };
      if (!SENSOR_ID_PATTERN.test(clientId)) {
        return refuse(CONNACK_IDENTIFIER_REJECTED, `client id "${clientId}" does not match ${SENSOR_ID_PATTERN}`);
      }
      let principalIdentifier = clientId;
      if (client.conn instanceof tls.TLSSocket) {
        const cert = client.conn.getPeerCertificate();
        const commonName = cert?.subject?.CN;
        if (typeof commonName !== 'string' || commonName !== clientId) {
          return refuse(CONNACK_NOT_AUTHORIZED, `client id "${clientId}" is not the certificate's CN "${String(commonName ?? '')}"`);
        }
        // AWS names a certificate principal by its SHA-256 fingerprint (the certificate id).
        principalIdentifier = cert.fingerprint256.replaceAll(':', '').toLowerCase();
      }
      const previous = registeredClients(broker)[clientId];
      if (previous && previous !== client) {
        const previousSession = sessions.get(previous);
        if (previousSession) previousSession.disconnectReason = 'DUPLICATE_CLIENTID';
      }
      sessions.set(client, {
        sessionIdentifier: randomUUID(),
        principalIdentifier,
        ipAddress: remoteAddress(client),
      });
      callback(null, true);
    },

    authorizePublish(client, packet, callback) {
      // No client: a will replayed by aedes on behalf of a gone client; it was authorized when stored.
      if (!client) return callback(null);
      const payload = toBuffer(packet.payload);
      if (payload.length > MAX_PAYLOAD_BYTES) {
        log({
          level: 'warn',
          message: 'payload too large, connection closed',
          clientId: client.id,
          topic: packet.topic,
          bytes: payload.length,
        });
        markDisconnect(client, 'CLIENT_ERROR');
        const error = refusal(`payload of ${payload.length} bytes is over ${MAX_PAYLOAD_BYTES}`);
        if (client.closed) return callback(error);
        // MQTT 5: DISCONNECT 0x95 then close; MQTT 3.1.1: close. The error then ends the PUBLISH without an ack.
        client.disconnect({ reasonCode: DISCONNECT_PACKET_TOO_LARGE }, () => callback(error));
        return;
      }
      if (packet.topic !== TOPICS.telemetry(client.id) && !isOwnBasicIngest(packet.topic, client.id)) {
        log({ level: 'warn', message: 'publish refused', clientId: client.id, topic: packet.topic });
        // aedes answers MQTT 5 with PUBACK 0x87 and closes an MQTT 3.1.1 connection.
        if (client.version !== 5) markDisconnect(client, 'AUTH_ERROR');
        return callback(refusal(`client "${client.id}" may not publish to "${packet.topic}"`));
      }
      const receivedAt = Date.now();
      const previous = deliveryChains.get(client) ?? Promise.resolve();
      const delivered = previous.then(() => notifyListeners(packet.topic, payload, { clientId: client.id, receivedAt }));
      deliveryChains.set(
        client,
        delivered.then(() => undefined),
      );
      void delivered.then((taken) => {
        if (taken) return callback(null);
        // Not safely taken (e.g. the rules journal could not be written): no PUBACK, and the connection is
        // closed, so the device keeps the message and sends it again when it reconnects.
        log({
          level: 'warn',
          message: 'publish not acknowledged: a listener failed; connection closed',
          clientId: client.id,
          topic: packet.topic,
        });
        markDisconnect(client, 'SERVER_INITIATED_DISCONNECT');
        const error = refusal('the message could not be taken; send it again');
        client.close(() => callback(error));
      });
    },

    authorizeSubscribe(client, subscription, callback) {
      if (subscription.topic === TOPICS.commands(client.id)) return callback(null, subscription);
      log({ level: 'warn', message: 'subscribe refused', clientId: client.id, topic: subscription.topic });
      // A null subscription is answered with the SUBACK failure code (0x80, or 0x87 in MQTT 5).
      callback(null, null);
    },
  });
  // aedes keeps connected clients in a plain object keyed by client id, so ids such as `constructor` or
  // `__proto__` (valid sensorIds) would hit Object.prototype and crash it: give it a map without a prototype
  // before it starts (its constructor sets `{}`; nothing replaces it later).
  (broker as unknown as { clients: Record<string, Client> }).clients = Object.create(null) as Record<string, Client>;
  await broker.listen();

  function refusal(message: string): Error {
    const error = new Error(message);
    refusals.add(error);
    return error;
  }

  function remoteAddress(client: Client): string {
    return addresses.get(client.conn) ?? normalizeAddress((client.conn as net.Socket).remoteAddress);
  }

  function markDisconnect(client: Client, reason: DisconnectReason): void {
    const session = sessions.get(client);
    if (session && !session.disconnectReason) session.disconnectReason = reason;
  }

  broker.on('client', (client) => {
    const session = sessions.get(client);
    if (!session) return;
    log({
      level: 'info',
      message: 'client connected',
      clientId: client.id,
      protocolVersion: client.version,
      principalIdentifier: session.principalIdentifier,
    });
    publishPresence('connected', client.id, {
      clientId: client.id,
      timestamp: Date.now(),
      eventType: 'connected',
      sessionIdentifier: session.sessionIdentifier,
      principalIdentifier: session.principalIdentifier,
      ipAddress: session.ipAddress,
      versionNumber: versionOf(session),
    });
  });

  broker.on('clientDisconnect', (client) => {
    const session = sessions.get(client);
    if (!session) return;
    // `_disconnected` is aedes' record that the client sent DISCONNECT (not part of its typed API).
    const sentDisconnect = (client as Client & { _disconnected?: boolean })._disconnected === true;
    const disconnectReason: DisconnectReason =
      session.disconnectReason ?? (sentDisconnect ? 'CLIENT_INITIATED_DISCONNECT' : 'CONNECTION_LOST');
    log({ level: 'info', message: 'client disconnected', clientId: client.id, disconnectReason });
    publishPresence('disconnected', client.id, {
      clientId: client.id,
      timestamp: Date.now(),
      eventType: 'disconnected',
      clientInitiatedDisconnect: disconnectReason === 'CLIENT_INITIATED_DISCONNECT',
      sessionIdentifier: session.sessionIdentifier,
      principalIdentifier: session.principalIdentifier,
      disconnectReason,
      versionNumber: versionOf(session),
    });
  });

  broker.on('keepaliveTimeout', (client) => markDisconnect(client, 'MQTT_KEEP_ALIVE_TIMEOUT'));

  broker.on('clientError', (client, err) => {
    // aedes emits clientError both for a refused MQTT 5 PUBLISH (connection kept) and for a fatal error.
    if ((client as Client & { errored?: boolean }).errored) {
      markDisconnect(client, isConnectionLoss(err) ? 'CONNECTION_LOST' : 'CLIENT_ERROR');
    }
    if (refusals.has(err)) return;
    log({ level: isConnectionLoss(err) ? 'info' : 'warn', message: 'client error', clientId: client.id, error: errorMessage(err) });
  });
  broker.on('connectionError', (client, err) => {
    if (refusals.has(err)) return;
    logThrottled(`connect:${(err as NodeJS.ErrnoException).code ?? err.name}`, {
      level: 'warn',
      message: 'connection error before CONNECT completed',
      ipAddress: remoteAddress(client),
      error: errorMessage(err),
    });
  });
  // aedes emits 'error' for persistence failures; an EventEmitter 'error' without a listener would throw.
  (broker as EventEmitter).on('error', (err: unknown) => log({ level: 'error', message: 'broker error', error: errorMessage(err) }));

  const sockets = new Set<net.Socket>();
  const maxPending = options.maxPendingConnections ?? MAX_PENDING_CONNECTIONS;
  const floodLogs = new Map<string, { last: number; suppressed: number }>();
  /** Logs a line that a flood could repeat at most once per interval per kind, counting the rest. */
  const logThrottled = (kind: string, entry: BrokerLogEntry) => {
    const state = floodLogs.get(kind) ?? { last: 0, suppressed: 0 };
    floodLogs.set(kind, state);
    if (Date.now() - state.last < FLOOD_LOG_INTERVAL_MS) {
      state.suppressed += 1;
      return;
    }
    log(state.suppressed > 0 ? { ...entry, suppressedSinceLastLine: state.suppressed } : entry);
    state.last = Date.now();
    state.suppressed = 0;
  };
  /** Admits a new socket unless too many are still before their CONNECT (or TLS handshake). */
  const admit = (socket: net.Socket): boolean => {
    // Open sockets minus accepted clients: connections still in their TLS handshake or before CONNECT.
    if (sockets.size - broker.connectedClients >= maxPending) {
      socket.destroy();
      logThrottled('pending', { level: 'warn', message: 'connection refused: too many not yet connected', maxPending });
      return false;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    return true;
  };

  // The peer address is read on arrival: once aedes has destroyed a socket, it is gone.
  const accept = (socket: net.Socket) => {
    addresses.set(socket, normalizeAddress(socket.remoteAddress));
    const client = broker.handle(socket) as Client | undefined;
    // Each client's subscriptions are a plain object keyed by the topic filter a device sends; no prototype.
    if (client)
      (client as Client & { subscriptions: Record<string, unknown> }).subscriptions = Object.create(null) as Record<string, unknown>;
  };
  const tcpServer = net.createServer((socket) => {
    if (admit(socket)) accept(socket);
  });
  const tlsServer = tls.createServer(
    {
      key: serverKey,
      cert: serverCert,
      ca: ca.certPem,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      // Node's default is 120 s: long enough for stalled handshakes to pile up.
      handshakeTimeout: options.tlsHandshakeTimeoutMs ?? TLS_HANDSHAKE_TIMEOUT_MS,
    },
    accept,
  );
  // The raw TCP socket, before its handshake: a socket over the cap is closed before TLS work is spent on it.
  tlsServer.on('connection', admit);
  tlsServer.on('tlsClientError', (err, socket) => {
    // A certificate that fails verification ends the handshake with `authorizationError` set.
    logThrottled(`tls:${(err as NodeJS.ErrnoException).code ?? 'other'}`, {
      level: 'warn',
      message: 'TLS handshake refused',
      ipAddress: normalizeAddress(socket.remoteAddress),
      authorizationError: socket.authorizationError ? String(socket.authorizationError) : undefined,
      error: errorMessage(err),
    });
    // With a tlsClientError listener Node leaves the socket open (a handshake timeout too): close it here.
    socket.destroy();
  });

  let mqttPort: number;
  let mqttsPort: number;
  try {
    mqttPort = await listen(tcpServer, 'MQTT', options.host, options.mqttPort);
    mqttsPort = await listen(tlsServer, 'MQTTS', options.host, options.mqttsPort);
  } catch (err) {
    await closeServer(tcpServer);
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    throw err;
  }
  for (const server of [tcpServer, tlsServer]) {
    server.on('error', (err) => log({ level: 'error', message: 'listener error', error: errorMessage(err) }));
  }
  log({ level: 'info', message: 'MQTT broker listening', host: options.host, mqttPort, mqttsPort });

  async function close(): Promise<void> {
    const servers = Promise.all([closeServer(tcpServer), closeServer(tlsServer)]);
    for (const client of Object.values(registeredClients(broker))) {
      if (client) markDisconnect(client, 'SERVER_INITIATED_DISCONNECT');
    }
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    // Connections that never completed CONNECT (or a TLS handshake) are not aedes clients.
    for (const socket of sockets) socket.destroy();
    await servers;
    while (inFlight.size > 0) await Promise.all([...inFlight]);
    log({ level: 'info', message: 'MQTT broker closed' });
  }

  return {
    mqttPort,
    mqttsPort,
    async publish(topic, payload, qos) {
      if (typeof topic !== 'string' || topic === '' || /[+#]/.test(topic)) {
        throw new Error(`Cannot publish to "${topic}": a topic name is non-empty and has no wildcard`);
      }
      if (closing || broker.closed) throw new Error('The MQTT broker is closed');
      await publishAsSystem(topic, payload, qos);
    },
    onMessage(listener) {
      listeners.push(listener);
    },
    close() {
      closing ??= close();
      return closing;
    },
  };
}

function listen(server: net.Server, label: string, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      const reason =
        err.code === 'EADDRINUSE'
          ? `${label} port ${port} on ${host} is already in use`
          : `${label} cannot listen on ${host}:${port}: ${err.message}`;
      reject(new Error(reason, { cause: err }));
    };
    const onListening = () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}

/** The connected clients by id (aedes keeps them on the instance without typing them). */
function registeredClients(broker: Aedes): Record<string, Client | undefined> {
  return (broker as unknown as { clients: Record<string, Client | undefined> }).clients;
}

function normalizeAddress(address: string | undefined): string {
  if (!address) return 'unknown';
  return address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
}

function toBuffer(payload: PublishPacket['payload']): Buffer {
  return Buffer.isBuffer(payload) ? payload : Buffer.from(payload as string);
}

function isConnectionLoss(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ETIMEDOUT';
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
