import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { main, parseArgs, parseInterval, parseMeasureArgs } from '../../../cost/cli.js';
import { SERVICES } from '../../../cost/model.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function run(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = main(
    argv,
    (t) => out.push(t),
    (t) => err.push(t),
  );
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('cost CLI arguments', () => {
  it('reads durations in ms, s, m and h', () => {
    expect(parseInterval('500ms')).toBe(0.5);
    expect(parseInterval('5s')).toBe(5);
    expect(parseInterval('1m')).toBe(60);
    expect(parseInterval('1h')).toBe(3_600);
    expect(parseInterval('30')).toBe(30);
  });

  it('reads a whole command line', () => {
    expect(parseArgs(['--sensors', '100', '--interval', '5s', '--dashboards=5', '--ingest', 'direct', '--json'])).toEqual({
      fleet: { sensors: 100, intervalS: 5, dashboards: 5, ingest: 'direct' },
      json: true,
    });
    expect(
      parseArgs([
        '--sensors',
        '100',
        '--interval',
        '5s',
        '--dashboards',
        '5',
        '--no-basic-ingest',
        '--shards',
        'on-demand',
        '--history-window',
        '1m',
      ]),
    ).toEqual({
      fleet: { sensors: 100, intervalS: 5, dashboards: 5, ingest: 'stream', basicIngest: false, shards: 'on-demand', historyWindowS: 60 },
      json: false,
    });
  });

  it.each([
    [['--interval', '5s', '--dashboards', '5'], /--sensors is required/],
    [['--sensors', '100', '--dashboards', '5'], /--interval is required/],
    [['--sensors', 'many', '--interval', '5s', '--dashboards', '5'], /--sensors: 'many' is not a whole number/],
    [['--sensors', '0', '--interval', '5s', '--dashboards', '5'], /--sensors: '0' is not a whole number of at least 1/],
    [['--sensors', '100', '--interval', '5 parsecs', '--dashboards', '5'], /--interval: '5 parsecs' is not a duration/],
    [['--sensors', '100', '--interval', '0s', '--dashboards', '5'], /--interval: '0s'/],
    [['--sensors', '100', '--interval', '5s', '--dashboards', '-1'], /--dashboards needs a value|--dashboards: '-1'/],
    [
      ['--sensors', '100', '--interval', '5s', '--dashboards', '5', '--ingest', 'queued'],
      /--ingest: 'queued' is neither stream nor direct/,
    ],
    [['--sensors', '100', '--interval', '5s', '--dashboards', '5', '--shards', '0'], /--shards: '0'/],
    [
      ['--sensors', '100', '--interval', '5s', '--dashboards', '5', '--ingest', 'direct', '--shards', '2'],
      /--shards and --history-window apply to --ingest stream only/,
    ],
    [['--sensors', '100', '--interval', '5s', '--dashboards', '5', '--history-window', '10m'], /--history-window: '10m' is over 300 s/],
    [['--sensors', '100', '--interval', '5s', '--dashboards', '5', '--hours', '30'], /--hours: '30'/],
    [['--sensors', '100', '--interval', '5s', '--dashboards', '5', '--metrics', '33'], /--metrics: 33/],
    [['--sensors', '100', '--sensors', '5', '--interval', '5s', '--dashboards', '5'], /--sensors is given twice/],
    [['--sensors', '100', '--interval', '5s', '--dashboards', '5', '--region', 'eu'], /unknown argument '--region'/],
    [['--sensors'], /--sensors needs a value/],
  ])('refuses %j with exit code 2 and the usage', (argv, message) => {
    const { code, out, err } = run(argv);
    expect(code).toBe(2);
    expect(err).toMatch(message);
    expect(err).toMatch(/usage: npm run cost --/);
    expect(out).toBe('');
  });
});

describe('cost CLI --measure arguments', () => {
  it('runs a small fleet by default, in the default ingest mode', () => {
    expect(parseMeasureArgs(['--measure'])).toEqual({ sensors: 20, intervalS: 1, dashboards: 2, durationS: 10, ingest: 'stream' });
    expect(
      parseMeasureArgs(['--measure', '--sensors=5', '--interval', '2s', '--dashboards', '0', '--duration', '1m', '--ingest', 'direct']),
    ).toEqual({
      sensors: 5,
      intervalS: 2,
      dashboards: 0,
      durationS: 60,
      ingest: 'direct',
    });
  });

  it.each([
    [['--measure', '--sensors', '5000'], /at most 2,000/],
    [['--measure', '--duration', '1h'], /at most 10 minutes/],
    [['--measure', '--ingest', 'queued'], /neither stream nor direct/],
    [['--measure', '--hours', '3'], /unknown argument '--hours' with --measure/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseMeasureArgs(argv)).toThrow(message);
  });
});

describe('cost CLI output', () => {
  it('prints vigia and naive side by side, with totals and the biggest line', () => {
    const { code, out } = run(['--sensors', '1000', '--interval', '5s', '--dashboards', '5', '--no-basic-ingest']);
    expect(code).toBe(0);
    expect(out).toMatch(/^1,000 sensors, one reading every 5 s/);
    expect(out).toMatch(/vigia with stream ingest \(devices on the message broker, 1 shard, history window 30 s\)/);
    expect(out).toContain('| service | item | vigia quantity | vigia | naive quantity | naive |');
    for (const service of SERVICES) expect(out).toContain(`| **${service}** |`);
    expect(out).toContain('| IoT Core | messages | 518.4 M | $518.40 | 518.4 M | $518.40 |');
    expect(out).toMatch(/\| \*\*total a month\*\* \| \| \| \*\*\$[\d,.]+\*\* \| \| \*\*\$[\d,.]+\*\* \|/);
    // Without Basic Ingest, IoT Core's messages outweigh DynamoDB's writes since raw readings are packed.
    expect(out).toContain('Biggest line: vigia IoT Core, messages');
    expect(out).toMatch(/vigia costs \d+ % of the naive design\./);
    expect(out).toContain('Stream shards this fleet needs: 1 (deploy with -c streamShards=1');
  });

  it('prints the shards 100,000 sensors every 5 s need', () => {
    const { out } = run(['--sensors', '100000', '--interval', '5s', '--dashboards', '20']);
    expect(out).toContain('Stream shards this fleet needs: 60 (deploy with -c streamShards=60');
  });

  it('answers JSON with --json', () => {
    const { code, out } = run(['--sensors', '10', '--interval', '1m', '--dashboards', '1', '--json']);
    expect(code).toBe(0);
    const answer = JSON.parse(out);
    expect(answer.vigia.fleet).toMatchObject({ sensors: 10, intervalS: 60, dashboards: 1, design: 'vigia' });
    expect(answer.naive.fleet.design).toBe('naive');
    expect(answer.prices.iotMessages.source).toBe('https://aws.amazon.com/iot-core/pricing/');
  });

  it('exits 2 as a process on a bad argument', async () => {
    const tsx = `${ROOT}node_modules/.bin/tsx`;
    const failure = await promisify(execFile)(tsx, ['cost/cli.ts', '--sensors', '10'], { cwd: ROOT }).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(failure?.code).toBe(2);
    expect(failure?.stderr).toMatch(/--interval is required/);
  });
});
