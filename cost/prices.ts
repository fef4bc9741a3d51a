/**
 * AWS list prices used by the cost model: us-east-1, on-demand, USD, as published on each service's pricing
 * page in 2025. They were written down from those pages, not fetched: prices change, so check the page before
 * relying on a figure. Free tiers and volume discounts are ignored on purpose (every price is the first paid
 * tier), so small fleets come out slightly dearer than a real bill and very large ones slightly cheaper tiers
 * are not applied.
 */
export interface ListPrice {
  /** USD per `per` units of `unit`. */
  readonly usd: number;
  readonly per: number;
  readonly unit: string;
  readonly source: string;
  readonly asOf: string;
}

const AS_OF = 'as published 2025';
const page = (service: string) => `https://aws.amazon.com/${service}/pricing/`;

export const PRICES = {
  iotConnectivity: { usd: 0.08, per: 1e6, unit: 'connection-minutes', source: page('iot-core'), asOf: AS_OF },
  /** First tier (up to 1 billion messages a month); metered in 5 KB increments. */
  iotMessages: { usd: 1.0, per: 1e6, unit: 'messages (5 KB increments)', source: page('iot-core'), asOf: AS_OF },
  iotRulesTriggered: { usd: 0.15, per: 1e6, unit: 'rules triggered', source: page('iot-core'), asOf: AS_OF },
  iotActions: { usd: 0.15, per: 1e6, unit: 'actions executed', source: page('iot-core'), asOf: AS_OF },
  lambdaRequests: { usd: 0.2, per: 1e6, unit: 'requests', source: page('lambda'), asOf: AS_OF },
  /** arm64 (Graviton), first tier. */
  lambdaCompute: { usd: 0.0000133334, per: 1, unit: 'GB-seconds (arm64)', source: page('lambda'), asOf: AS_OF },
  dynamoWrites: { usd: 0.625, per: 1e6, unit: 'write request units (on-demand)', source: page('dynamodb'), asOf: AS_OF },
  dynamoReads: { usd: 0.125, per: 1e6, unit: 'read request units (on-demand)', source: page('dynamodb'), asOf: AS_OF },
  dynamoStorage: { usd: 0.25, per: 1, unit: 'GB-months (Standard table class)', source: page('dynamodb'), asOf: AS_OF },
  dynamoPitr: { usd: 0.2, per: 1, unit: 'GB-months of point-in-time recovery', source: page('dynamodb'), asOf: AS_OF },
  /** First tier (up to 1 billion messages a month); metered in 32 KB increments, both directions. */
  wsMessages: { usd: 1.0, per: 1e6, unit: 'WebSocket messages (32 KB increments)', source: page('api-gateway'), asOf: AS_OF },
  wsConnectionMinutes: { usd: 0.25, per: 1e6, unit: 'WebSocket connection-minutes', source: page('api-gateway'), asOf: AS_OF },
  /** First tier (up to 300 million a month); metered in 512 KB increments. */
  httpRequests: { usd: 1.0, per: 1e6, unit: 'HTTP API requests (512 KB increments)', source: page('api-gateway'), asOf: AS_OF },
  /** United States and Europe, first 10 TB. */
  cloudFrontTransfer: { usd: 0.085, per: 1, unit: 'GB out to the internet', source: page('cloudfront'), asOf: AS_OF },
  cloudFrontRequests: { usd: 0.0075, per: 1e4, unit: 'HTTPS requests', source: page('cloudfront'), asOf: AS_OF },
  /** Standard queues; a request is 64 KB of payload at most. */
  sqsRequests: { usd: 0.4, per: 1e6, unit: 'requests (standard queue)', source: page('sqs'), asOf: AS_OF },
  /** Provisioned mode: each shard takes 1 MB/s and 1,000 records/s of writes. */
  kinesisShardHours: { usd: 0.015, per: 1, unit: 'shard-hours', source: page('kinesis/data-streams'), asOf: AS_OF },
  /** Provisioned mode: a record is metered in 25 KB PUT payload units. */
  kinesisPutUnits: { usd: 0.014, per: 1e6, unit: 'PUT payload units (25 KB)', source: page('kinesis/data-streams'), asOf: AS_OF },
  /** Retention past 24 h (vigia keeps 24 h, so none is billed). */
  kinesisExtendedRetention: {
    usd: 0.02,
    per: 1,
    unit: 'shard-hours of extended retention',
    source: page('kinesis/data-streams'),
    asOf: AS_OF,
  },
  kinesisOnDemandStreamHours: { usd: 0.04, per: 1, unit: 'on-demand stream-hours', source: page('kinesis/data-streams'), asOf: AS_OF },
  kinesisOnDemandIngest: { usd: 0.08, per: 1, unit: 'GB written (on-demand)', source: page('kinesis/data-streams'), asOf: AS_OF },
  /** On-demand bills every consumer's reads, standard consumers (Lambda's pollers) included. */
  kinesisOnDemandRetrieval: { usd: 0.04, per: 1, unit: 'GB read (on-demand)', source: page('kinesis/data-streams'), asOf: AS_OF },
  /** The Plus feature plan (lib/auth.ts sets it), which has no free tier. */
  cognitoPlusMau: { usd: 0.02, per: 1, unit: 'monthly active users (Plus)', source: page('cognito'), asOf: AS_OF },
  logsIngestion: { usd: 0.5, per: 1, unit: 'GB of logs ingested', source: page('cloudwatch'), asOf: AS_OF },
  /** Standard resolution; an alarm on a metric-math expression is billed per metric in it. */
  cloudWatchAlarms: { usd: 0.1, per: 1, unit: 'alarm metric-months', source: page('cloudwatch'), asOf: AS_OF },
  cloudWatchDashboards: { usd: 3.0, per: 1, unit: 'dashboard-months', source: page('cloudwatch'), asOf: AS_OF },
  /** First 10,000 metrics. */
  cloudWatchMetrics: { usd: 0.3, per: 1, unit: 'custom metric-months', source: page('cloudwatch'), asOf: AS_OF },
} as const satisfies Record<string, ListPrice>;

export type PriceName = keyof typeof PRICES;

/** The cost of `quantity` units at a list price. */
export function priced(name: PriceName, quantity: number): number {
  const p = PRICES[name];
  return (quantity / p.per) * p.usd;
}
