import { describe, expect, it } from 'vitest';
import type { CostLine, Estimate } from '../../../cost/model.js';
import { byService, monthlyCost } from '../../../cost/model.js';
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
  const vigia = monthlyCost({ sensors: 10, intervalS: 60, dashboards: 1, design: 'vigia' });
  // By hand, from the list prices.
  const messages = 10 * (86_400 / 60) * 30; // 432,000
  const dashboardMinutes = 1 * 24 * 60 * 30; // 43,200
  const reconnects = dashboardMinutes / 60 / 2; // a WebSocket lasts 2 h: 360
  const fleetLists = 1 * 24 * (3_600 / 30) * 30; // GET /sensors every 30 s: 86,400
  const historyLoads = 1 * 24 * 30; // one 24 h chart an hour: 720

  it('prices the IoT Core lines from messages = sensors × 86400 / interval × 30', () => {
    expect(messages).toBe(432_000);
    expect(line(vigia, 'IoT Core', 'connectivity').usd).toBeCloseTo((10 * MONTH_MIN * 0.08) / 1e6, 6);
    expect(line(vigia, 'IoT Core', 'messages').usd).toBeCloseTo((messages * 1.0) / 1e6, 6);
    // Two rules (history writer, broadcaster), one Lambda action each.
    expect(line(vigia, 'IoT Core', 'rules triggered').usd).toBeCloseTo((2 * messages * 0.15) / 1e6, 6);
    expect(line(vigia, 'IoT Core', 'actions (Lambda)').usd).toBeCloseTo((2 * messages * 0.15) / 1e6, 6);
  });

  it('prices Lambda requests: two per message, one per ping, three per reconnect, one per HTTP request', () => {
    const requests = 2 * messages + dashboardMinutes + 3 * reconnects + fleetLists + historyLoads;
    expect(requests).toBe(995_400);
    expect(line(vigia, 'Lambda', 'requests').quantity).toBe(requests);
    expect(line(vigia, 'Lambda', 'requests').usd).toBeCloseTo((requests * 0.2) / 1e6, 6);
  });

  it('prices DynamoDB writes: 4 units a reading, a live mark while watched, 4 per reconnect', () => {
    const units = messages * 4 + messages * 1 + reconnects * 4;
    expect(units).toBe(2_161_440);
    expect(line(vigia, 'DynamoDB', 'write request units').usd).toBeCloseTo((units * 0.625) / 1e6, 6);
  });

  it('prices DynamoDB reads: roll-up reads, subscriber lookups, fleet scans, history loads', () => {
    // Writer: 2 buckets (consistent batch get) + 1 raw query + a new minute at every 60 s reading.
    const writer = messages * (2 + 1 + 1);
    // Broadcaster: two eventually consistent queries of 0.5 unit.
    const broadcaster = messages * 2 * 0.5;
    // A scan of 10 registry items (< 4 KB) every 30 s: 0.5 unit.
    const scans = fleetLists * 0.5;
    // 24 h at 60 s is 1,440 points > 1,000: auto reads 1,001 raw items of 110 B (27 × 4 KB, halved)
    // and 25 hour buckets of 170 B (2 × 4 KB, halved).
    const history = historyLoads * (Math.ceil((1_001 * 110) / 4_096) * 0.5 + Math.ceil((25 * 170) / 4_096) * 0.5);
    const units = writer + broadcaster + scans + history;
    expect(units).toBe(2_213_640);
    expect(line(vigia, 'DynamoDB', 'read request units').usd).toBeCloseTo((units * 0.125) / 1e6, 6);
  });

  it('prices the WebSocket: one frame per reading, a ping and a pong a minute, connection minutes', () => {
    expect(line(vigia, 'API Gateway WebSocket', 'messages: live readings').usd).toBeCloseTo((messages * 1.0) / 1e6, 6);
    expect(line(vigia, 'API Gateway WebSocket', 'messages: pings, pongs, subscribes').quantity).toBe(
      2 * dashboardMinutes + 2 * reconnects,
    );
    expect(line(vigia, 'API Gateway WebSocket', 'connection minutes').usd).toBeCloseTo((dashboardMinutes * 0.25) / 1e6, 8);
  });

  it('prices CloudWatch: 350 B of Lambda lines per invocation, the EMF metrics line, 5 custom metrics', () => {
    const requests = 995_400;
    const emf = messages * 250 + messages * 270 + (dashboardMinutes + 3 * reconnects) * 250;
    const gb = (requests * 350 + emf) / 1024 ** 3;
    expect(line(vigia, 'CloudWatch', 'Lambda log ingestion').usd).toBeCloseTo(gb * 0.5, 8);
    expect(line(vigia, 'CloudWatch', 'custom metrics (EMF)').usd).toBeCloseTo(5 * 0.3, 8);
    // Operations: 2 alarms + 5 functions × (error rate on 2 metrics + throttles); one dashboard.
    expect(line(vigia, 'CloudWatch', 'alarms').usd).toBeCloseTo((2 + 5 * 3) * 0.1, 8);
    expect(line(vigia, 'CloudWatch', 'operations dashboard').usd).toBeCloseTo(3, 8);
  });

  it('adds up, names its biggest line, and warns of nothing', () => {
    const sum = vigia.lines.reduce((s, l) => s + l.usd, 0);
    expect(vigia.total).toBeCloseTo(sum, 9);
    expect(byService(vigia).reduce((s, l) => s + l.usd, 0)).toBeCloseTo(sum, 9);
    // At this size the fixed price of the operations dashboard outweighs 2.2 million writes.
    expect(vigia.biggest).toEqual(line(vigia, 'CloudWatch', 'operations dashboard'));
    expect(line(vigia, 'DynamoDB', 'write request units').usd).toBeLessThan(1.5);
    expect(vigia.warnings).toEqual([]);
    expect(vigia.total).toBeLessThan(11);
  });
});

describe('a mid fleet: 1,000 sensors every 5 s, 5 dashboards open all day', () => {
  const direct = monthlyCost({ sensors: 1_000, intervalS: 5, dashboards: 5, design: 'vigia' });
  const queued = monthlyCost({ sensors: 1_000, intervalS: 5, dashboards: 5, design: 'vigia', ingest: 'queued' });
  const naive = monthlyCost({ sensors: 1_000, intervalS: 5, dashboards: 5, design: 'naive' });
  const messages = 1_000 * (86_400 / 5) * 30; // 518.4 million
  const reconnects = (5 * 24 * 60 * 30) / 60 / 2; // 1,800

  it('prices IoT Core messages and WebSocket pushes by hand', () => {
    expect(messages).toBe(518_400_000);
    expect(line(direct, 'IoT Core', 'messages').usd).toBeCloseTo(518.4, 6);
    // Direct: every reading to every open dashboard, one frame each.
    expect(line(direct, 'API Gateway WebSocket', 'messages: live readings').usd).toBeCloseTo((5 * messages * 1.0) / 1e6, 6);
    expect(line(naive, 'API Gateway WebSocket', 'messages: live readings').usd).toBeCloseTo(2_592, 6);
    // Queued: 200 readings a second fill batches of 100; one frame per dashboard per batch.
    expect(line(queued, 'API Gateway WebSocket', 'messages: live readings').usd).toBeCloseTo((5 * (messages / 100) * 1.0) / 1e6, 6);
  });

  it('prices DynamoDB writes by hand for each design', () => {
    // vigia: raw + 1-minute + 1-hour + registry, a live mark per reading; with 1,000 sensors a batch of 100
    // holds one reading per sensor, so queued saves no write.
    const vigiaUnits = messages * (4 + 1) + reconnects * 4;
    expect(line(direct, 'DynamoDB', 'write request units').usd).toBeCloseTo((vigiaUnits * 0.625) / 1e6, 6);
    expect(line(queued, 'DynamoDB', 'write request units').usd).toBeCloseTo((vigiaUnits * 0.625) / 1e6, 6);
    // naive: the raw item and the registry entry.
    const naiveUnits = messages * 2 + reconnects * 4;
    expect(line(naive, 'DynamoDB', 'write request units').usd).toBeCloseTo((naiveUnits * 0.625) / 1e6, 6);
  });

  it('prices Lambda by hand: per message when direct, per batch when queued', () => {
    const others = 5 * 24 * 60 * 30 + 3 * reconnects + 5 * 24 * 120 * 30 + 5 * 24 * 30; // pings, reconnects, HTTP
    expect(line(direct, 'Lambda', 'requests').usd).toBeCloseTo(((2 * messages + others) * 0.2) / 1e6, 6);
    expect(line(queued, 'Lambda', 'requests').usd).toBeCloseTo(((2 * (messages / 100) + others) * 0.2) / 1e6, 6);
    // Direct compute: writer 40 ms; broadcaster 12 ms lookup + 8 ms mark + 10 ms for one wave of posts; 0.25 GB.
    const telemetryGbS = messages * (0.04 + 0.03) * 0.25;
    expect(line(direct, 'Lambda', 'compute (256 MB arm64)').quantity).toBeGreaterThan(telemetryGbS);
    expect(line(direct, 'Lambda', 'compute (256 MB arm64)').quantity).toBeLessThan(telemetryGbS * 1.01);
  });

  it('prices the queues of queued ingest by hand', () => {
    // Each of the two rules sends every message to its queue…
    expect(line(queued, 'SQS', 'telemetry queues: send').usd).toBeCloseTo((2 * messages * 0.4) / 1e6, 6);
    // …and each function receives and deletes them ten at a time.
    expect(line(queued, 'SQS', 'telemetry queues: receive and delete').usd).toBeCloseTo((2 * 2 * (messages / 10) * 0.4) / 1e6, 6);
    expect(line(direct, 'SQS', 'dead letters (none assumed)').usd).toBe(0);
  });

  it('prices storage at full retention: raw 30 days, minutes 180 days, hours 5 years, each item + 100 B', () => {
    const gb = 1024 ** 3;
    const raw = 1_000 * (30 * 86_400 / 5) * (110 + 100);
    const minutes = 1_000 * 180 * 1_440 * (170 + 100);
    const hours = 1_000 * 1_825 * 24 * (170 + 100);
    const registry = 1_000 * (230 + 100);
    const marks = 1_000 * (86_400 / 5) * (50 + 100);
    const storedGb = (raw + minutes + hours + registry + marks) / gb;
    expect(line(direct, 'DynamoDB', 'storage (full retention)').usd).toBeCloseTo(storedGb * 0.25, 6);
    expect(line(direct, 'DynamoDB', 'point-in-time recovery').usd).toBeCloseTo(storedGb * 0.2, 6);
    expect(line(naive, 'DynamoDB', 'storage (full retention)').usd).toBeCloseTo(((raw + registry) / gb) * 0.25, 6);
  });

  it('costs more naive than vigia with queued ingest, the WebSocket pushes being the difference', () => {
    expect(naive.total).toBeGreaterThan(queued.total);
    expect(naive.biggest.item).toBe('messages: live readings');
    expect(queued.biggest).toEqual(line(queued, 'DynamoDB', 'write request units'));
  });

  it('costs more in direct mode than naive: roll-ups, live marks and lookups are what vigia adds', () => {
    expect(direct.total).toBeGreaterThan(naive.total);
    const extraWrites = messages * 3 * 0.625 / 1e6; // two buckets and a live mark per reading
    const dynamo = (e: Estimate) => byService(e).find((s) => s.service === 'DynamoDB')!.usd;
    expect(dynamo(direct) - dynamo(naive)).toBeGreaterThan(extraWrites);
    expect(direct.biggest.item).toBe('messages: live readings');
  });
});

describe('limits the prices do not show', () => {
  it('warns at 100,000 sensors every 5 s of the fleet list size, concurrency and API Gateway throttling', () => {
    const e = monthlyCost({ sensors: 100_000, intervalS: 5, dashboards: 20, design: 'vigia' });
    expect(e.warnings.join('\n')).toMatch(/6 MB response limit/);
    expect(e.warnings.join('\n')).toMatch(/concurrent executions/);
    expect(e.warnings.join('\n')).toMatch(/10,000 requests a second/);
    const queued = monthlyCost({ sensors: 100_000, intervalS: 5, dashboards: 20, design: 'vigia', ingest: 'queued' });
    expect(queued.warnings.join('\n')).not.toMatch(/concurrent executions|10,000 requests a second/);
  });

  it('refuses a fleet that is no fleet', () => {
    expect(() => monthlyCost({ sensors: 0, intervalS: 5, dashboards: 1, design: 'vigia' })).toThrow(/sensors/);
    expect(() => monthlyCost({ sensors: 1, intervalS: 0, dashboards: 1, design: 'vigia' })).toThrow(/intervalS/);
    expect(() => monthlyCost({ sensors: 1, intervalS: 5, dashboards: 1, dashboardHoursPerDay: 25, design: 'vigia' })).toThrow(
      /dashboardHoursPerDay/,
    );
  });

  it('keeps every price with its source page and date', () => {
    for (const [name, p] of Object.entries(PRICES)) {
      expect(p.source, name).toMatch(/^https:\/\/aws\.amazon\.com\/[a-z-]+\/pricing\/$/);
      expect(p.asOf, name).toMatch(/2025/);
      expect(p.usd, name).toBeGreaterThan(0);
    }
    expect(MONTH_S).toBe(2_592_000);
  });
});
