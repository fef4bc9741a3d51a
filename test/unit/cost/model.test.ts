import { describe, expect, it } from 'vitest';
import type { CostLine, Estimate } from '../../../cost/model.js';
import { batchesPerSecond, byService, DEFAULT_INGEST, monthlyCost, STREAM_RECORD_BYTES, streamShardsFor } from '../../../cost/model.js';
import { PRICES } from '../../../cost/prices.js';

/** The line of an estimate; fails the test when it is missing. */
function line(estimate: Estimate, service: CostLine['service'], item: string): CostLine {
  const found = estimate.lines.find((l) => l.service === service && l.item === item);
  if (!found) throw new Error(`no line ${service} / ${item} in ${estimate.lines.map((l) => `${l.service} / ${l.item}`).join(', ')}`);
  return found;
}

const MONTH_S = 86_400 * 30;
const MONTH_MIN = 1_440 * 30;

describe('a small fleet: 10 sensors every 60 s, 1 dashboard open all day, direct ingest', () => {
  const vigia = monthlyCost({ sensors: 10, intervalS: 60, dashboards: 1, design: 'vigia', ingest: 'direct' });
  // By hand, from the list prices.
  const messages = 10 * (86_400 / 60) * 30; // 432,000
  const presence = 10 * 2 * 30; // a connect and a disconnect a day per sensor: 600
  const dashboardMinutes = 1 * 24 * 60 * 30; // 43,200
  const reconnects = dashboardMinutes / 60 / 2; // a WebSocket lasts 2 h: 360
  const fleetLists = 1 * 24 * (3_600 / 30) * 30; // GET /sensors every 30 s, one page: 86,400
  const historyLoads = 1 * 24 * 30; // one 24 h chart an hour: 720
  const silenceChecks = 1_440 * 30; // the alert silence check once a minute: 43,200

  it('prices the IoT Core lines from messages = sensors × 86400 / interval × 30; presence is a rule too', () => {
    expect(messages).toBe(432_000);
    expect(line(vigia, 'IoT Core', 'connectivity').usd).toBeCloseTo((10 * MONTH_MIN * 0.08) / 1e6, 6);
    expect(line(vigia, 'IoT Core', 'messages').usd).toBeCloseTo((messages * 1.0) / 1e6, 6);
    // Two telemetry rules (history writer, broadcaster), one Lambda action each; the presence rule.
    expect(line(vigia, 'IoT Core', 'rules triggered').quantity).toBe(2 * messages + presence);
    expect(line(vigia, 'IoT Core', 'actions (Lambda)').usd).toBeCloseTo(((2 * messages + presence) * 0.15) / 1e6, 6);
  });

  it('prices Lambda requests of every function: two per message, presence, pings, reconnects and their authorizer, HTTP, silence checks', () => {
    const requests = 2 * messages + presence + dashboardMinutes + 3 * reconnects + reconnects + fleetLists + historyLoads + silenceChecks;
    expect(requests).toBe(1_039_560);
    expect(line(vigia, 'Lambda', 'requests').quantity).toBe(requests);
    expect(line(vigia, 'Lambda', 'requests').usd).toBeCloseTo((requests * 0.2) / 1e6, 6);
  });

  it('prices DynamoDB writes: 4 units a reading, a live mark per watched reading, presence, the subscriptions of each reconnect', () => {
    // The one dashboard shows all 10 cards: every reading is watched. A reconnect puts the connection item, writes
    // it with its cards, deletes it, and moves the subscriptions' version on twice.
    const units = messages * 4 + messages * 1 + presence * 1 + reconnects * (1 + 2 * 1 + 2);
    expect(units).toBe(2_162_400);
    expect(line(vigia, 'DynamoDB', 'write request units').usd).toBeCloseTo((units * 0.625) / 1e6, 6);
  });

  it('prices the WebSocket: one frame per watched reading, a ping and a pong a minute, connection minutes', () => {
    expect(line(vigia, 'API Gateway WebSocket', 'messages: live readings').usd).toBeCloseTo((messages * 1.0) / 1e6, 6);
    expect(line(vigia, 'API Gateway WebSocket', 'messages: pings, pongs, subscribes').quantity).toBe(2 * dashboardMinutes + 2 * reconnects);
    expect(line(vigia, 'API Gateway WebSocket', 'connection minutes').usd).toBeCloseTo((dashboardMinutes * 0.25) / 1e6, 8);
  });

  it('prices Cognito Plus per monthly active user, one per dashboard', () => {
    expect(line(vigia, 'Cognito', 'monthly active users (Plus)').usd).toBeCloseTo(1 * 0.02, 8);
  });

  it('prices CloudWatch: 6 watched functions × 3 alarm metrics + 2, 5 custom metrics, one dashboard', () => {
    expect(line(vigia, 'CloudWatch', 'custom metrics (EMF)').usd).toBeCloseTo(5 * 0.3, 8);
    expect(line(vigia, 'CloudWatch', 'alarms').usd).toBeCloseTo((2 + 6 * 3) * 0.1, 8);
    expect(line(vigia, 'CloudWatch', 'operations dashboard').usd).toBeCloseTo(3, 8);
  });

  it('adds up, names its biggest line, and warns of nothing', () => {
    const sum = vigia.lines.reduce((s, l) => s + l.usd, 0);
    expect(vigia.total).toBeCloseTo(sum, 9);
    expect(byService(vigia).reduce((s, l) => s + l.usd, 0)).toBeCloseTo(sum, 9);
    // At this size the fixed price of the operations dashboard outweighs 2.2 million writes.
    expect(vigia.biggest).toEqual(line(vigia, 'CloudWatch', 'operations dashboard'));
    expect(vigia.warnings).toEqual([]);
    expect(vigia.total).toBeLessThan(11);
  });

  it('refuses Basic Ingest in direct mode: the message would reach one of the two telemetry rules', () => {
    expect(() => monthlyCost({ sensors: 10, intervalS: 60, dashboards: 1, design: 'vigia', ingest: 'direct', basicIngest: true })).toThrow(
      /basicIngest needs stream ingest/,
    );
  });
});

describe('the reference fleets: stream ingest (the default) against naive', () => {
  const fleets = [
    { sensors: 100, intervalS: 5, dashboards: 5 },
    { sensors: 1_000, intervalS: 5, dashboards: 5 },
  ];

  it.each(fleets)('%o: stream on 1 shard with Basic Ingest is the default', (fleet) => {
    const e = monthlyCost({ ...fleet, design: 'vigia' });
    expect(e.fleet.ingest).toBe(DEFAULT_INGEST);
    expect(DEFAULT_INGEST).toBe('stream');
    expect(e.fleet.basicIngest).toBe(true);
    expect(e.shards).toBe(1);
    expect(e.warnings).toEqual([]);
  });

  it.each(fleets)('%o: stream costs less than direct and less than naive', (fleet) => {
    const stream = monthlyCost({ ...fleet, design: 'vigia' });
    const direct = monthlyCost({ ...fleet, design: 'vigia', ingest: 'direct' });
    const naive = monthlyCost({ ...fleet, design: 'naive' });
    expect(stream.total).toBeLessThan(direct.total / 2);
    expect(stream.total).toBeLessThan(naive.total / 3);
  });

  it('1,000 sensors every 5 s: at most a quarter of naive', () => {
    const fleet = fleets[1];
    expect(monthlyCost({ ...fleet, design: 'vigia' }).total / monthlyCost({ ...fleet, design: 'naive' }).total).toBeLessThanOrEqual(0.25);
  });
});

describe('stream ingest priced by hand: 1,000 sensors every 5 s, 5 dashboards, 1 shard, history window 30 s', () => {
  const stream = monthlyCost({ sensors: 1_000, intervalS: 5, dashboards: 5, design: 'vigia' });
  const broker = monthlyCost({ sensors: 1_000, intervalS: 5, dashboards: 5, design: 'vigia', basicIngest: false });
  const messages = 1_000 * (86_400 / 5) * 30; // 518.4 million

  it('Kinesis: 720 shard-hours and one 25 KB PUT payload unit per record', () => {
    expect(line(stream, 'Kinesis', 'shard-hours (1 shard)').usd).toBeCloseTo(720 * 0.015, 6);
    expect(line(stream, 'Kinesis', 'PUT payload units').usd).toBeCloseTo((messages * 0.014) / 1e6, 6);
    expect(stream.perReading.kinesisPutUnits).toBe(1);
  });

  it('IoT Core: one rule and one Kinesis action per message; no messaging with Basic Ingest', () => {
    expect(line(stream, 'IoT Core', 'actions (Kinesis)').quantity).toBe(messages);
    expect(line(stream, 'IoT Core', 'messages (Basic Ingest: none billed)').usd).toBe(0);
    expect(line(broker, 'IoT Core', 'messages').usd).toBeCloseTo(518.4, 6);
  });

  it('the history writer: a batch of ~6,000 records a window, packs, buckets and registry per sensor per batch', () => {
    // 200 records/s; a batch waits for a first record (5 ms) and gathers 30 s: ~6,001 records, all 1,000 sensors
    // ~6 readings each; a 30 s batch crosses a minute boundary every other time, an hour one every 120th.
    const batches = MONTH_S * batchesPerSecond(30, 200, 10_000);
    expect(messages / batches).toBeCloseTo(6_001, 0);
    // Packs: a sensor's ~6 readings 5 s apart span 25 s, so 1 + 5/12 minutes a batch; a full pack (12 readings
    // of 2 metrics, 60 + 12 × 41 bytes) is under 1 KB: 1 unit each, whatever the batch.
    const packsPerSensorBatch = 1 + (6.001 - 1) / 12;
    const perSensorBatch = packsPerSensorBatch + 2 + 30 / 60 + 30 / 3_600 + 1;
    const historyWrites = batches * 1_000 * perSensorBatch;
    expect(historyWrites / messages).toBeCloseTo(0.82, 2);
    // The rest of the writes are the live marks and the dashboards' subscriptions.
    expect(stream.perReading.dynamoWriteUnits).toBeGreaterThan(historyWrites / messages);
  });

  it('the broadcaster: one `readings` frame per dashboard per live batch (about a second), not one per reading', () => {
    const frames = line(stream, 'API Gateway WebSocket', 'messages: live readings').quantity;
    expect(frames).toBeCloseTo(5 * MONTH_S * batchesPerSecond(1, 200, 1_000), -3);
    expect(frames).toBeLessThan(messages / 20);
  });

  it('prints the shards a fleet needs: records, bytes, and a history window in one batch', () => {
    expect(streamShardsFor({ sensors: 1_000, intervalS: 5 })).toBe(1);
    // 20,000 records/s: 25 shards at 80 % of 1,000; a 30 s window of 600,000 records in batches of 10,000: 60.
    expect(streamShardsFor({ sensors: 100_000, intervalS: 5 })).toBe(60);
    expect(streamShardsFor({ sensors: 100_000, intervalS: 5, historyWindowS: 5 })).toBe(25);
  });

  it('on demand: stream-hours, GB written, GB read by the two consumers; no shard-hours', () => {
    const onDemand = monthlyCost({ sensors: 1_000, intervalS: 5, dashboards: 5, design: 'vigia', shards: 'on-demand' });
    const gb = (messages * STREAM_RECORD_BYTES(2)) / 1024 ** 3;
    expect(line(onDemand, 'Kinesis', 'on-demand stream-hours').usd).toBeCloseTo(720 * 0.04, 6);
    expect(line(onDemand, 'Kinesis', 'data written (on-demand)').usd).toBeCloseTo(gb * 0.08, 6);
    expect(line(onDemand, 'Kinesis', 'data read by 2 consumers (on-demand)').usd).toBeCloseTo(2 * gb * 0.04, 6);
    expect(onDemand.lines.some((l) => l.item.startsWith('shard-hours'))).toBe(false);
  });

  it('warns when the given shards cannot take the fleet', () => {
    const e = monthlyCost({ sensors: 10_000, intervalS: 1, dashboards: 5, design: 'vigia', shards: 2 });
    expect(e.warnings.join('\n')).toMatch(/records a second a shard, over a shard's 1,000/);
  });
});

describe('a mid fleet, direct and naive priced by hand: 1,000 sensors every 5 s, 5 dashboards open all day', () => {
  const direct = monthlyCost({ sensors: 1_000, intervalS: 5, dashboards: 5, design: 'vigia', ingest: 'direct' });
  const naive = monthlyCost({ sensors: 1_000, intervalS: 5, dashboards: 5, design: 'naive' });
  const messages = 1_000 * (86_400 / 5) * 30; // 518.4 million
  const reconnects = (5 * 24 * 60 * 30) / 60 / 2; // 1,800

  it('prices IoT Core messages and WebSocket pushes by hand', () => {
    expect(line(direct, 'IoT Core', 'messages').usd).toBeCloseTo(518.4, 6);
    // Direct: each dashboard gets a frame per reading of the 30 cards it shows.
    expect(line(direct, 'API Gateway WebSocket', 'messages: live readings').quantity).toBeCloseTo(5 * messages * (30 / 1_000), 0);
    // Naive: every reading to every dashboard.
    expect(line(naive, 'API Gateway WebSocket', 'messages: live readings').usd).toBeCloseTo(2_592, 6);
  });

  it('prices DynamoDB writes by hand for each design', () => {
    // vigia direct: raw + 1-minute + 1-hour + registry; a live mark per watched reading (150 of 1,000 sensors).
    const presence = 1_000 * 2 * 30;
    // A reconnect: the connection item put, written with its 30 cards (550 B: one unit), deleted; the version twice.
    const vigiaUnits = messages * 4 + messages * (150 / 1_000) + presence + reconnects * (1 + 2 * 1 + 2);
    expect(line(direct, 'DynamoDB', 'write request units').quantity).toBeCloseTo(vigiaUnits, 0);
    // naive: the raw item and the registry entry.
    const naiveUnits = messages * 2 + reconnects * 4; // its one `*` subscription
    expect(line(naive, 'DynamoDB', 'write request units').quantity).toBeCloseTo(naiveUnits, 0);
  });

  it('prices storage at full retention: raw 30 days, minutes 180 days, hours 5 years, each item + 100 B', () => {
    const gb = 1024 ** 3;
    const raw = 1_000 * ((30 * 86_400) / 5) * (110 + 100);
    const minutes = 1_000 * 180 * 1_440 * (170 + 100);
    const hours = 1_000 * 1_825 * 24 * (170 + 100);
    const registry = 1_000 * (230 + 100);
    const marks = 150 * 1_440 * (50 + 120 + 100); // one mark per watched sensor and minute, 12 timestamps
    const storedGb = (raw + minutes + hours + registry + marks) / gb;
    expect(line(direct, 'DynamoDB', 'storage (full retention)').usd).toBeCloseTo(storedGb * 0.25, 6);
    expect(line(direct, 'DynamoDB', 'point-in-time recovery').usd).toBeCloseTo(storedGb * 0.2, 6);
    expect(line(naive, 'DynamoDB', 'storage (full retention)').usd).toBeCloseTo(((raw + registry) / gb) * 0.25, 6);
  });

  it('costs more naive than vigia direct, the WebSocket pushes being the difference', () => {
    expect(naive.total).toBeGreaterThan(direct.total);
    expect(naive.biggest.item).toBe('messages: live readings');
    expect(direct.biggest).toEqual(line(direct, 'DynamoDB', 'write request units'));
  });
});

describe('limits the prices do not show', () => {
  it('direct at 100,000 sensors every 5 s needs more concurrency than a region has; naive answers a 21 MB fleet list', () => {
    const direct = monthlyCost({ sensors: 100_000, intervalS: 5, dashboards: 20, design: 'vigia', ingest: 'direct' });
    expect(direct.warnings.join('\n')).toMatch(/concurrent executions/);
    const naive = monthlyCost({ sensors: 100_000, intervalS: 5, dashboards: 20, design: 'naive' });
    expect(naive.warnings.join('\n')).toMatch(/6 MB response limit/);
    expect(naive.warnings.join('\n')).toMatch(/10,000 requests a second/);
  });

  it('stream at 100,000 sensors every 5 s with 20 dashboards has no quota note (posts, concurrency, responses, shards)', () => {
    const e = monthlyCost({ sensors: 100_000, intervalS: 5, dashboards: 20, design: 'vigia' });
    expect(e.shards).toBe(60);
    expect(e.warnings.filter((w) => !/price tier/.test(w))).toEqual([]);
    // Frames stay bounded by what the dashboards show: never more than one per reading of their 30 cards.
    const frames = line(e, 'API Gateway WebSocket', 'messages: live readings').quantity;
    expect(frames).toBeLessThanOrEqual(20 * (30 / 5) * MONTH_S);
    expect(frames).toBeGreaterThan(20 * MONTH_S);
  });

  it('refuses a fleet that is no fleet', () => {
    expect(() => monthlyCost({ sensors: 0, intervalS: 5, dashboards: 1, design: 'vigia' })).toThrow(/sensors/);
    expect(() => monthlyCost({ sensors: 1, intervalS: 0, dashboards: 1, design: 'vigia' })).toThrow(/intervalS/);
    expect(() => monthlyCost({ sensors: 1, intervalS: 5, dashboards: 1, dashboardHoursPerDay: 25, design: 'vigia' })).toThrow(
      /dashboardHoursPerDay/,
    );
    expect(() => monthlyCost({ sensors: 1, intervalS: 5, dashboards: 1, design: 'vigia', shards: 0 })).toThrow(/shards/);
  });

  it('keeps every price with its source page and date', () => {
    for (const [name, p] of Object.entries(PRICES)) {
      expect(p.source, name).toMatch(/^https:\/\/aws\.amazon\.com\/[a-z/-]+\/pricing\/$/);
      expect(p.asOf, name).toMatch(/2025/);
      expect(p.usd, name).toBeGreaterThan(0);
    }
    expect(MONTH_S).toBe(2_592_000);
  });
});
