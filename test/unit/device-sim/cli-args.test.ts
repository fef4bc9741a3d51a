import { describe, expect, it } from 'vitest';
import { parseDuration, planFromArgs } from '../../../device-sim/cli-args.js';

describe('simulator command line', () => {
  it('targets the local broker over mutual TLS by default, with certificates from DATA_DIR', () => {
    const plan = planFromArgs(['--sensors', '3'], { DATA_DIR: '/d' });
    expect(plan).toMatchObject({
      simulation: { sensors: 3, host: '127.0.0.1', port: 8883, protocol: 'mqtt5', tls: { caPath: '/d/certs/ca.crt', certDir: '/d/certs' } },
    });
  });

  it('targets AWS IoT Core with --endpoint: port 8883, system trust store, certs folder', () => {
    const plan = planFromArgs(['--endpoint', 'abc-ats.iot.eu-west-1.amazonaws.com', '--protocol', 'mqtt311'], {});
    expect(plan).toMatchObject({
      simulation: {
        host: 'abc-ats.iot.eu-west-1.amazonaws.com',
        port: 8883,
        protocol: 'mqtt311',
        tls: { caPath: undefined, certDir: 'certs' },
      },
    });
  });

  it('uses plain TCP with --tcp and reads MQTT_PORT', () => {
    const plan = planFromArgs(['--tcp', '--ids', 'a,b', '--count', '5', '--duration', '2m'], { MQTT_PORT: '1999' });
    expect(plan).toMatchObject({ simulation: { sensors: ['a', 'b'], port: 1999, tls: undefined, count: 5 }, durationMs: 120_000 });
  });

  it('publishes by Basic Ingest to the rule --basic-ingest names, which must be an IoT rule name', () => {
    expect(planFromArgs(['--tcp', '--basic-ingest', 'IngestTelemetry'], {})).toMatchObject({
      simulation: { basicIngestRule: 'IngestTelemetry' },
    });
    expect(planFromArgs(['--tcp'], {})).toMatchObject({ simulation: { basicIngestRule: undefined } });
    expect(() => planFromArgs(['--basic-ingest', 'rules/../x'], {})).toThrow(/--basic-ingest must be an IoT rule name/);
  });

  it('rejects bad values with a message', () => {
    expect(() => planFromArgs(['--protocol', 'mqtt4'])).toThrow(/mqtt5 or mqtt311/);
    expect(() => planFromArgs(['--interval', 'fast'])).toThrow(/--interval must be an integer/);
    expect(() => planFromArgs(['--endpoint', 'x', '--tcp'])).toThrow(/mutual TLS/);
    expect(() => planFromArgs(['--bogus'])).toThrow();
  });

  it('parses durations', () => {
    expect(parseDuration('90')).toBe(90_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(() => parseDuration('soon')).toThrow(/Invalid duration/);
  });
});
