/**
 * Issue 12's benchmark: readings/s through the local pipeline (MQTT → rules engine → history writer with
 * alert evaluation → DynamoDB stand-in) with no alert rule and with 100 rules active; the target is at most
 * 10 % slower. Each run is a fresh `npm start -- --no-sim` in a child process; the two alternate.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { type RuntimeProcess, sleep, startRuntimeProcess } from './support.js';

const SENSORS = 20;

/** 100 rules, as an operator might have them: most never fire, a few fire and resolve now and then. */
function hundredRules(): unknown[] {
  const rules: unknown[] = [];
  for (let i = 0; i < 60; i++) {
    rules.push({
      name: `fleet ${i}`,
      sensorIds: ['*'],
      metric: i % 2 ? 'temperature' : 'humidity',
      condition: { op: '>', value: 1000 + i },
      forSeconds: 60,
    });
  }
  for (let i = 0; i < 30; i++) {
    rules.push({
      name: `band ${i}`,
      sensorIds: [`alert-bench-${i % SENSORS}`],
      metric: 'temperature',
      condition: { op: 'outside', low: -50, high: 150 },
    });
  }
  const quiet = process.env.BENCH_ALERT_RULES === 'quiet';
  // Fires at the top of each 100-reading cycle and resolves below the middle: a transition on 2 % of readings.
  if (!quiet)
    rules.push({
      name: 'hot',
      sensorIds: ['*'],
      metric: 'temperature',
      condition: { op: '>', value: 98 },
      hysteresis: 50,
      severity: 'critical',
    });
  else rules.push({ name: 'never', sensorIds: ['*'], metric: 'temperature', condition: { op: '>', value: 9999 } });
  for (let i = 0; i < 9; i++) rules.push({ name: `quiet ${i}`, sensorIds: ['*'], silentMinutes: 10 + i });
  return rules;
}

async function run(withRules: boolean, perSensor: number): Promise<number> {
  const rt: RuntimeProcess = await startRuntimeProcess(undefined, { INGEST: 'stream', POWERTOOLS_LOG_LEVEL: 'ERROR' });
  const clients: MqttClient[] = [];
  try {
    const api = `http://127.0.0.1:${rt.port}/api`;
    if (withRules) {
      for (const rule of hundredRules()) {
        const res = await fetch(`${api}/alert-rules`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(rule),
        });
        if (res.status !== 201) throw new Error(`rule refused: ${res.status} ${await res.text()}`);
      }
    }
    const ids = Array.from({ length: SENSORS }, (_, i) => `alert-bench-${i}`);
    for (const id of ids) {
      clients.push(await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { clientId: id, protocolVersion: 5, reconnectPeriod: 0 }));
    }
    const base = Date.now() - 5 * 60_000;
    const lastTs = base + (perSensor - 1) * 10;
    const started = performance.now();
    await Promise.all(
      clients.map(async (c, k) => {
        // 20 in flight per device: a busy device with a deep offline buffer.
        let next = 0;
        await Promise.all(
          Array.from({ length: 20 }, async () => {
            while (next < perSensor) {
              const i = next++;
              const payload = { ts: base + i * 10, values: { temperature: i % 100, humidity: 40 }, units: { temperature: '°C' } };
              await c.publishAsync(`sensors/${ids[k]}/telemetry`, JSON.stringify(payload), { qos: 1 });
            }
          }),
        );
      }),
    );
    // Done when every sensor's newest stored reading is its last one.
    for (;;) {
      const { sensors } = (await (await fetch(`${api}/sensors`)).json()) as { sensors: Array<{ latest: { ts: number } | null }> };
      if (sensors.length === SENSORS && sensors.every((s) => s.latest?.ts === lastTs)) break;
      await sleep(50);
    }
    const seconds = (performance.now() - started) / 1000;
    return Math.round((SENSORS * perSensor) / seconds);
  } finally {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    await rt.stop();
  }
}

export async function alertsBench(options: { perSensor: number; rounds: number }): Promise<{ none: number[]; rules: number[] }> {
  const none: number[] = [];
  const rules: number[] = [];
  for (let i = 0; i < options.rounds; i++) {
    none.push(await run(false, options.perSensor));
    rules.push(await run(true, options.perSensor));
  }
  return { none, rules };
}

/** The bench/results.md section. */
export async function alertsSection(lines: string[], quick: boolean): Promise<void> {
  console.log('alerts…');
  // Shorter runs, more of them, alternating: on a shared machine the load drifts more than alerts cost.
  const perSensor = quick ? 250 : 500;
  const r = await alertsBench({ perSensor, rounds: quick ? 1 : 4 });
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const none = median(r.none);
  const withRules = median(r.rules);
  const slower = Math.round((1 - withRules / none) * 1000) / 10;
  lines.push('## Alert evaluation (issue 12)', '');
  lines.push(
    `${SENSORS * perSensor} readings (${SENSORS} sensors, QoS 1, 20 in flight each) through the local pipeline until stored; ` +
      `runs alternate, ${r.none.length} each, the median shown.`,
    '',
  );
  lines.push('| alert rules | readings/s (runs) | |', '| --- | --- | --- |');
  lines.push(`| none | ${none} (${r.none.join(', ')}) | |`);
  lines.push(
    `| 100 (60 on every sensor, 30 bands, 1 that fires and resolves every 100 readings, 9 silence) | ${withRules} (${r.rules.join(', ')}) | ${slower} % slower; target ≤ 10 %: ${slower <= 10 ? 'met' : '**not met**'} |`,
  );
  lines.push('');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const lines: string[] = [];
  alertsSection(lines, process.argv.includes('--quick')).then(
    () => {
      console.log(lines.join('\n'));
      process.exit(0);
    },
    (err: Error) => {
      console.error(err);
      process.exit(1);
    },
  );
}
