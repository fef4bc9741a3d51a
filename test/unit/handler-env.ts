/**
 * What the handler tests share: the environment the handlers read (set when this module is imported, so
 * import it before the handlers) and the AWS-shaped event fixtures.
 */
import { readFileSync } from 'node:fs';

export const ENDPOINT = 'https://abcdef123.execute-api.eu-west-1.amazonaws.com/live';
export const DLQ = 'https://sqs.eu-west-1.amazonaws.com/123456789012/vigia-rejected';

Object.assign(process.env, {
  AWS_REGION: 'eu-west-1',
  POWERTOOLS_LOG_LEVEL: 'SILENT',
  READINGS_TABLE: 'readings',
  ROLLUPS_TABLE: 'rollups',
  SENSORS_TABLE: 'sensors',
  CONNECTIONS_TABLE: 'connections',
  WS_MANAGEMENT_ENDPOINT: ENDPOINT,
  IOT_DATA_ENDPOINT: 'https://example-ats.iot.eu-west-1.amazonaws.com',
  DEAD_LETTER_QUEUE_URL: DLQ,
  RAW_RETENTION_DAYS: '30',
});

export const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../fixtures/${name}.json`, import.meta.url), 'utf8'));
