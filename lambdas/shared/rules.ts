/**
 * The IoT topic rules, as data: CDK renders them to SQL, the local rule runner evaluates the same
 * projection, so a handler sees the same event in both places.
 */
import { TOPICS } from './names.js';

/** One projected field of a rule's SELECT. */
export type Projection =
  | { kind: 'payloadBase64'; as: string } // encode(*, 'base64')
  | { kind: 'payloadJson' } // * (the JSON payload's own fields)
  | { kind: 'topicSegment'; index: number; as: string } // topic(n), 1-based
  | { kind: 'timestamp'; as: string }; // timestamp(): the rules engine's receive time, epoch ms

export type RuleTarget = 'historyWriter' | 'broadcaster' | 'presence';

export interface RuleDefinition {
  /** Construct id and rule name stem. */
  id: string;
  description: string;
  topicFilter: string;
  select: Projection[];
  target: RuleTarget;
  /**
   * A WHERE clause IoT Core applies in the cloud only. Locally every client's identity is its client id (or its
   * certificate's CN on 8883), so the local rules engine has nothing of the kind to filter on.
   */
  cloudWhere?: string;
}

/**
 * Only certificate-authenticated clients are sensors (contract §6). AWS IoT lifecycle events: `principalIdentifier`
 * is "the credential used to authenticate": for an X.509 client its certificate id (the SHA-256 of the certificate,
 * 64 lowercase hex digits), for the console's MQTT test client and other SigV4 clients an IAM principal such as
 * `AROA…:user@example.com`, for a custom authorizer its principalId
 * (https://docs.aws.amazon.com/iot/latest/developerguide/life-cycle-events.html). The device policy lets a
 * certificate connect only as its own thing's name (lib/devices.ts). The same topic filter also carries
 * `connect_failed` events, left out too. regexp_matches: https://docs.aws.amazon.com/iot/latest/developerguide/iot-sql-functions.html
 */
export const CERTIFICATE_PRESENCE_WHERE =
  "(eventType = 'connected' OR eventType = 'disconnected') AND regexp_matches(principalIdentifier, '^[0-9a-f]{64}$')";

const telemetrySelect: Projection[] = [
  { kind: 'payloadBase64', as: 'payload' },
  { kind: 'topicSegment', index: 2, as: 'sensorId' },
  { kind: 'timestamp', as: 'receivedAt' },
];

export const RULES: readonly RuleDefinition[] = [
  {
    id: 'StoreTelemetry',
    description: 'Keeps the history of every telemetry reading (the web server of the original design)',
    topicFilter: TOPICS.telemetryFilter,
    select: telemetrySelect,
    target: 'historyWriter',
  },
  {
    id: 'BroadcastTelemetry',
    description: 'Pushes every telemetry reading to subscribed dashboards (the WebSocket server of the original design)',
    topicFilter: TOPICS.telemetryFilter,
    select: telemetrySelect,
    target: 'broadcaster',
  },
  {
    id: 'TrackPresence',
    description: 'Applies connect and disconnect lifecycle events to the sensors registry',
    topicFilter: TOPICS.presenceFilter,
    select: [{ kind: 'payloadJson' }],
    target: 'presence',
    cloudWhere: CERTIFICATE_PRESENCE_WHERE,
  },
];

/**
 * Stream ingest: the one telemetry rule. Its Kinesis action writes the SELECT output as the record's data,
 * keyed by sensorId, so each sensor's readings stay in order on one shard.
 */
export const TELEMETRY_STREAM_RULE = {
  id: 'IngestTelemetry',
  description: 'Puts every telemetry reading on the telemetry stream, keyed by sensorId, for history and live',
  topicFilter: TOPICS.telemetryFilter,
  select: telemetrySelect,
  /** The Kinesis action's partition key: a substitution template IoT evaluates per message. */
  partitionKey: '${topic(2)}',
} as const satisfies Omit<RuleDefinition, 'target'> & { partitionKey: string };

/**
 * Basic Ingest (https://docs.aws.amazon.com/iot/latest/developerguide/iot-basic-ingest.html): a message
 * published to `$aws/rules/<rule>/<topic>` reaches the named rule only, and the rule's `topic(n)` sees
 * `<topic>`, without the prefix.
 */
export const BASIC_INGEST_PREFIX = '$aws/rules/';

/** `$aws/rules/<rule>/<topic>` → the rule's name and the topic its SQL sees; any other topic → undefined. */
export function parseBasicIngestTopic(topic: string): { ruleName: string; topic: string } | undefined {
  if (!topic.startsWith(BASIC_INGEST_PREFIX)) return undefined;
  const rest = topic.slice(BASIC_INGEST_PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash === rest.length - 1) return undefined;
  return { ruleName: rest.slice(0, slash), topic: rest.slice(slash + 1) };
}

/** The Basic Ingest topic of a rule for an ordinary topic. */
export const basicIngestTopic = (ruleName: string, topic: string) => `${BASIC_INGEST_PREFIX}${ruleName}/${topic}`;

function renderProjection(p: Projection): string {
  switch (p.kind) {
    case 'payloadBase64':
      return `encode(*, 'base64') AS ${p.as}`;
    case 'payloadJson':
      return '*';
    case 'topicSegment':
      return `topic(${p.index}) AS ${p.as}`;
    case 'timestamp':
      return `timestamp() AS ${p.as}`;
  }
}

/** The rule's SQL (version 2016-03-23). */
export function ruleSql(rule: Pick<RuleDefinition, 'select' | 'topicFilter' | 'cloudWhere'>): string {
  const where = rule.cloudWhere ? ` WHERE ${rule.cloudWhere}` : '';
  return `SELECT ${rule.select.map(renderProjection).join(', ')} FROM '${rule.topicFilter}'${where}`;
}

/** The event a Lambda action receives for a message that matched the rule. */
export function projectRuleEvent(
  rule: Pick<RuleDefinition, 'select'>,
  topic: string,
  payload: Buffer,
  receivedAt: number,
): Record<string, unknown> | undefined {
  const event: Record<string, unknown> = {};
  const segments = topic.split('/');
  for (const p of rule.select) {
    switch (p.kind) {
      case 'payloadBase64':
        event[p.as] = payload.toString('base64');
        break;
      case 'payloadJson': {
        // IoT Core does not run a `SELECT *` rule on a payload that is not a JSON object.
        let parsed: unknown;
        try {
          parsed = JSON.parse(payload.toString('utf8'));
        } catch {
          return undefined;
        }
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
        Object.assign(event, parsed);
        break;
      }
      case 'topicSegment':
        event[p.as] = segments[p.index - 1];
        break;
      case 'timestamp':
        event[p.as] = receivedAt;
        break;
    }
  }
  return event;
}

/** MQTT topic filter matching (+ and #), as the broker applies it. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
