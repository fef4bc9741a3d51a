/**
 * One device's MQTT connection through aws-iot-device-sdk-v2 (aws-crt), at MQTT 5 or 3.1.1, over mutual
 * TLS or plain TCP. The rest of the simulator sees only {@link DeviceTransport}: connect/disconnect events,
 * QoS 1 publish resolving on PUBACK, and incoming command messages.
 *
 * aws-crt calls back from native code; every callback here is wrapped so that nothing it throws and no
 * promise it rejects reaches the process unhandled.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { iot, io, mqtt, mqtt5 } from 'aws-iot-device-sdk-v2';

export type Protocol = 'mqtt5' | 'mqtt311';

export interface TransportTls {
  /** Root CA file; absent → the system trust store (Amazon's root CA for AWS IoT Core). */
  caPath?: string;
  certPath: string;
  keyPath: string;
}

export interface TransportOptions {
  clientId: string;
  host: string;
  port: number;
  protocol: Protocol;
  /** Mutual TLS; plain TCP when absent (the local broker then identifies the device by client id). */
  tls?: TransportTls;
  /** Reconnect backoff bounds. @default 1000 and 30000 ms */
  minReconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
  /** Send the AWS IoT SDK metrics in the CONNECT username. @default false */
  sdkMetrics?: boolean;
}

export interface TransportEvents {
  /** A connection (first or later) is up and the commands subscription, if any, is being renewed. */
  connected(): void;
  /** An established connection was lost. The transport reconnects by itself. */
  disconnected(reason: string): void;
  /** One connection attempt failed. The transport tries again with backoff. */
  connectionFailed(reason: string): void;
  message(topic: string, payload: Buffer): void;
}

export interface DeviceTransport {
  start(): void;
  /** QoS 1 publish; resolves on a successful PUBACK, rejects on a failure reason code or a dropped operation. */
  publish(topic: string, payload: string): Promise<void>;
  /** Subscribes at QoS 1 now (when connected) and after every reconnect. */
  subscribe(topic: string): void;
  /** Disconnects, stops reconnecting and frees the native resources. Safe to call more than once. */
  stop(): Promise<void>;
}

const KEEP_ALIVE_SECONDS = 30;

/** The broker answered a PUBLISH with a failure reason code (e.g. 0x87 not authorized): sending again will not help. */
export class PublishRefusedError extends Error {
  constructor(readonly reasonCode: number) {
    super(`PUBACK reason code 0x${reasonCode.toString(16)}`);
    this.name = 'PublishRefusedError';
  }
}

function describe(error: unknown): string {
  if (error === undefined || error === null) return 'unknown error';
  if (typeof error === 'object') {
    const e = error as { error_name?: string; error_code?: number; message?: string; error?: unknown };
    if (e.error_name) return `${e.error_name}${e.message && !e.message.includes(e.error_name) ? `: ${e.message}` : ''}`;
    if (e.message) return e.message;
  }
  return String(error);
}

function safely<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void {
  return (...args: A) => {
    try {
      fn(...args);
    } catch {
      // A listener's own failure must not unwind into native code.
    }
  };
}

/**
 * aws-crt's MQTT 5 client frees its native part (and lets the process exit) only when its JS wrapper is
 * garbage collected, even after close() (awslabs/aws-crt-nodejs#600). Once every client is stopped and
 * dropped, a forced collection lets the process, or a test worker, exit at once.
 */
export function releaseNativeMemory(): void {
  try {
    const gc = (globalThis as { gc?: () => void }).gc ?? exposeGc();
    gc();
  } catch {
    // Without a collector to call, the native memory is freed at the next natural collection.
  }
}

function exposeGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

export function createTransport(options: TransportOptions, events: TransportEvents): DeviceTransport {
  return options.protocol === 'mqtt5' ? createMqtt5Transport(options, events) : createMqtt311Transport(options, events);
}

function createMqtt5Transport(options: TransportOptions, events: TransportEvents): DeviceTransport {
  const minDelay = options.minReconnectDelayMs ?? 1000;
  const maxDelay = options.maxReconnectDelayMs ?? 30_000;
  const connectProperties: mqtt5.ConnectPacket = {
    clientId: options.clientId,
    keepAliveIntervalSeconds: KEEP_ALIVE_SECONDS,
  };
  let config: mqtt5.Mqtt5ClientConfig;
  if (options.tls) {
    const builder = iot.AwsIotMqtt5ClientConfigBuilder.newDirectMqttBuilderWithMtlsFromPath(
      options.host,
      options.tls.certPath,
      options.tls.keyPath,
    );
    if (options.tls.caPath) builder.withCertificateAuthorityFromPath(undefined, options.tls.caPath);
    builder
      .withPort(options.port)
      .withConnectProperties(connectProperties)
      .withSessionBehavior(mqtt5.ClientSessionBehavior.Clean)
      .withRetryJitterMode(mqtt5.RetryJitterType.Full)
      .withMinReconnectDelayMs(minDelay)
      .withMaxReconnectDelayMs(maxDelay)
      .withOfflineQueueBehavior(mqtt5.ClientOperationQueueBehavior.FailNonQos1PublishOnDisconnect);
    config = builder.build();
    config.disableMetrics = !options.sdkMetrics;
  } else {
    config = {
      hostName: options.host,
      port: options.port,
      connectProperties,
      sessionBehavior: mqtt5.ClientSessionBehavior.Clean,
      retryJitterMode: mqtt5.RetryJitterType.Full,
      minReconnectDelayMs: minDelay,
      maxReconnectDelayMs: maxDelay,
      offlineQueueBehavior: mqtt5.ClientOperationQueueBehavior.FailNonQos1PublishOnDisconnect,
      disableMetrics: !options.sdkMetrics,
    };
  }

  // `let`: stop() drops it, so that garbage collection can free the native client (see releaseNativeMemory).
  let client: mqtt5.Mqtt5Client | undefined = new mqtt5.Mqtt5Client(config);
  const topics = new Set<string>();
  let connected = false;
  let stopping: Promise<void> | undefined;

  const subscribeNow = (topic: string): void => {
    client
      ?.subscribe({ subscriptions: [{ topicFilter: topic, qos: mqtt5.QoS.AtLeastOnce }] })
      .then((suback) => {
        const code = suback.reasonCodes[0] ?? 0;
        if (code >= 0x80) events.connectionFailed(`SUBSCRIBE ${topic} refused (reason code 0x${code.toString(16)})`);
      })
      .catch(() => {
        // Lost with the connection; renewed on the next connectionSuccess.
      });
  };

  client.on(
    'error',
    safely(() => {}),
  );
  client.on(
    'connectionSuccess',
    safely(() => {
      connected = true;
      for (const topic of topics) subscribeNow(topic);
      events.connected();
    }),
  );
  client.on(
    'connectionFailure',
    safely((e: mqtt5.ConnectionFailureEvent) => {
      const code = e.connack?.reasonCode;
      events.connectionFailed(code !== undefined ? `CONNACK refused (reason code 0x${code.toString(16)})` : describe(e.error));
    }),
  );
  client.on(
    'disconnection',
    safely((e: mqtt5.DisconnectionEvent) => {
      if (!connected) return;
      connected = false;
      const code = e.disconnect?.reasonCode;
      events.disconnected(code !== undefined ? `DISCONNECT (reason code 0x${code.toString(16)})` : describe(e.error));
    }),
  );
  client.on(
    'messageReceived',
    safely((e: mqtt5.MessageReceivedEvent) => {
      const payload = e.message.payload;
      events.message(e.message.topicName, payload === undefined ? Buffer.alloc(0) : Buffer.from(payload as ArrayBuffer));
    }),
  );

  return {
    start() {
      client?.start();
    },
    async publish(topic, payload) {
      if (!client) throw new Error('transport stopped');
      const result = await client.publish({ topicName: topic, payload, qos: mqtt5.QoS.AtLeastOnce });
      const code = result?.reasonCode ?? 0;
      // 0x10 "no matching subscribers" is still a success.
      if (code >= 0x80) throw new PublishRefusedError(code);
    },
    subscribe(topic) {
      topics.add(topic);
      if (connected) subscribeNow(topic);
    },
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        const stoppingClient = client;
        if (!stoppingClient) return resolve();
        const finish = (): void => {
          try {
            stoppingClient.close();
          } catch {
            // Already closed.
          }
          client = undefined;
          resolve();
        };
        stoppingClient.once('stopped', finish);
        try {
          stoppingClient.stop();
        } catch {
          finish();
        }
      });
      return stopping;
    },
  };
}

function createMqtt311Transport(options: TransportOptions, events: TransportEvents): DeviceTransport {
  const minDelay = options.minReconnectDelayMs ?? 1000;
  const maxDelay = options.maxReconnectDelayMs ?? 30_000;
  // The 3.1.1 client's own reconnect backoff is exponential without jitter; a per-device random minimum
  // spreads a fleet's reconnects apart all the same.
  const reconnectMinSec = Math.max(1, Math.round((minDelay / 1000) * (1 + Math.random())));
  const reconnectMaxSec = Math.max(reconnectMinSec, Math.round(maxDelay / 1000));
  let config: mqtt.MqttConnectionConfig;
  if (options.tls) {
    const builder = iot.AwsIotMqttConnectionConfigBuilder.new_mtls_builder_from_path(options.tls.certPath, options.tls.keyPath);
    if (options.tls.caPath) builder.with_certificate_authority_from_path(undefined, options.tls.caPath);
    config = builder
      .with_endpoint(options.host)
      .with_port(options.port)
      .with_client_id(options.clientId)
      .with_clean_session(true)
      .with_keep_alive_seconds(KEEP_ALIVE_SECONDS)
      .with_reconnect_min_sec(reconnectMinSec)
      .with_reconnect_max_sec(reconnectMaxSec)
      .build();
    config.disable_metrics = !options.sdkMetrics;
  } else {
    config = {
      client_id: options.clientId,
      host_name: options.host,
      port: options.port,
      clean_session: true,
      keep_alive: KEEP_ALIVE_SECONDS,
      socket_options: new io.SocketOptions(io.SocketType.STREAM, io.SocketDomain.IPV4, 10_000),
      reconnect_min_sec: reconnectMinSec,
      reconnect_max_sec: reconnectMaxSec,
      disable_metrics: !options.sdkMetrics,
    };
  }

  const client = new mqtt.MqttClient();
  const connection = client.new_connection(config);
  const topics = new Set<string>();
  let connected = false;
  let everConnected = false;
  let stopped = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let attempt = 0;
  let stopping: Promise<void> | undefined;

  const subscribeNow = (topic: string): void => {
    connection
      .subscribe(topic, mqtt.QoS.AtLeastOnce)
      .then((granted) => {
        if ((granted.qos as number) === 128 || granted.error_code) events.connectionFailed(`SUBSCRIBE ${topic} refused`);
      })
      .catch(() => {
        // Lost with the connection; renewed on resume.
      });
  };

  const onUp = (sessionPresent: boolean): void => {
    connected = true;
    everConnected = true;
    attempt = 0;
    if (!sessionPresent) for (const topic of topics) subscribeNow(topic);
    events.connected();
  };

  connection.on(
    'error',
    safely(() => {}),
  );
  connection.on(
    'interrupt',
    safely((error: unknown) => {
      if (!connected) return;
      connected = false;
      events.disconnected(describe(error));
    }),
  );
  connection.on(
    'resume',
    safely((_code: number, sessionPresent: boolean) => onUp(sessionPresent)),
  );
  connection.on(
    'connection_failure',
    safely((e: { error: unknown }) => {
      // Reconnect attempts after the first connection report here; the first attempts reject connect().
      if (everConnected) events.connectionFailed(describe(e.error));
    }),
  );
  connection.on(
    'message',
    safely((topic: string, payload: ArrayBuffer) => events.message(topic, Buffer.from(payload))),
  );

  // Until the first CONNACK the 3.1.1 client does not retry by itself: exponential backoff with full jitter.
  const connectOnce = (): void => {
    if (stopped) return;
    connection
      .connect()
      .then((sessionPresent) => {
        if (stopped) return;
        onUp(sessionPresent);
      })
      .catch((error: unknown) => {
        if (stopped) return;
        events.connectionFailed(describe(error));
        const ceiling = Math.min(maxDelay, minDelay * 2 ** attempt);
        attempt += 1;
        retryTimer = setTimeout(connectOnce, Math.random() * ceiling);
      });
  };

  return {
    start() {
      connectOnce();
    },
    async publish(topic, payload) {
      await connection.publish(topic, payload, mqtt.QoS.AtLeastOnce);
    },
    subscribe(topic) {
      topics.add(topic);
      if (connected) subscribeNow(topic);
    },
    stop() {
      stopping ??= (async () => {
        stopped = true;
        if (retryTimer) clearTimeout(retryTimer);
        connected = false;
        // disconnect() also frees the native connection (on its 'closed' event).
        await connection.disconnect().catch(() => {});
      })();
      return stopping;
    },
  };
}
