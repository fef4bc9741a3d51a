import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BOUNDS, dailyCycle, initialSignalState, nextSignals, UNITS, type SignalValues } from '../../../device-sim/signals.js';

function run(seed: number, sensorId: string, timestamps: number[]): SignalValues[] {
  let state = initialSignalState(seed, sensorId);
  return timestamps.map((ts) => {
    const next = nextSignals(state, ts);
    state = next.state;
    return next.values;
  });
}

const START = Date.UTC(2026, 0, 1);
const minutes = (n: number) => Array.from({ length: n }, (_, i) => START + i * 60_000);

describe('signal models', () => {
  it('stay within their bounds for any seed, sensor and time', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.stringMatching(/^[A-Za-z0-9_-]{1,16}$/),
        fc.integer({ min: 0, max: 4e12 }),
        (seed, id, start) => {
          let state = initialSignalState(seed, id);
          for (let i = 0; i < 200; i++) {
            const { values, state: next } = nextSignals(state, start + i * 37_000);
            state = next;
            for (const metric of Object.keys(BOUNDS) as Array<keyof typeof BOUNDS>) {
              expect(Number.isFinite(values[metric])).toBe(true);
              expect(values[metric]).toBeGreaterThanOrEqual(BOUNDS[metric].min);
              expect(values[metric]).toBeLessThanOrEqual(BOUNDS[metric].max);
            }
          }
        },
      ),
      { numRuns: 50 },
    );
  });

  it('give the same readings for the same seed, sensor and timestamps', () => {
    expect(run(42, 'sim-1', minutes(500))).toEqual(run(42, 'sim-1', minutes(500)));
  });

  it('differ between seeds and between sensors', () => {
    expect(run(42, 'sim-1', minutes(20))).not.toEqual(run(43, 'sim-1', minutes(20)));
    expect(run(42, 'sim-1', minutes(20))).not.toEqual(run(42, 'sim-2', minutes(20)));
  });

  it('follow a daily temperature cycle: warmer mid-afternoon than before dawn', () => {
    const profile = initialSignalState(7, 'sim-1').profile;
    expect(dailyCycle(profile, START + 15 * 3_600_000)).toBeGreaterThan(dailyCycle(profile, START + 3 * 3_600_000) + 3);
    const day = run(7, 'sim-1', minutes(24 * 60));
    const at = (hour: number) => day[hour * 60].temperature;
    expect(at(15)).toBeGreaterThan(at(3));
  });

  it('make humidity anti-correlated with temperature', () => {
    const day = run(11, 'sim-3', minutes(24 * 60));
    const t = day.map((v) => v.temperature);
    const h = day.map((v) => v.humidity);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const mt = mean(t);
    const mh = mean(h);
    const cov = t.reduce((acc, x, i) => acc + (x - mt) * (h[i] - mh), 0);
    const sd = (xs: number[], m: number) => Math.sqrt(xs.reduce((acc, x) => acc + (x - m) ** 2, 0));
    expect(cov / (sd(t, mt) * sd(h, mh))).toBeLessThan(-0.8);
  });

  it('move pressure slowly and drain the battery without ever charging it', () => {
    const readings = run(5, 'sim-9', minutes(2000));
    for (let i = 1; i < readings.length; i++) {
      expect(Math.abs(readings[i].pressure - readings[i - 1].pressure)).toBeLessThan(0.5);
      expect(readings[i].battery).toBeLessThanOrEqual(readings[i - 1].battery);
    }
    expect(readings.at(-1)!.battery).toBeLessThan(readings[0].battery);
  });

  it('name a unit for every metric they produce', () => {
    expect(Object.keys(run(1, 'a', [START])[0]).sort()).toEqual(Object.keys(UNITS).sort());
    expect(UNITS.temperature).toBe('°C');
  });
});
