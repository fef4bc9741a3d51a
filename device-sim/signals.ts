/**
 * Signal models of a simulated sensor: pure functions of (state, timestamp), no clock, no I/O, no
 * Math.random. Given a seed and a sensorId, the same timestamps always give the same readings.
 *
 * - temperature: a daily cycle (coolest near 03:00 UTC, warmest near 15:00 UTC) plus bounded noise
 * - humidity: anti-correlated with temperature around the sensor's base humidity, 0–100 %
 * - pressure: a slow, mean-reverting random walk around the sensor's base, kept in 950–1050 hPa
 * - battery: drains a little with every reading and never rises; floors at 0 %
 */

export const UNITS = { temperature: '°C', humidity: '%', pressure: 'hPa', battery: '%' } as const;

export type MetricName = keyof typeof UNITS;
export type SignalValues = Record<MetricName, number>;

/** Per-sensor constants, drawn once from the seed. */
export interface SensorProfile {
  baseTemperature: number;
  dailyAmplitude: number;
  baseHumidity: number;
  basePressure: number;
  /** Battery drained per reading, in %. */
  drainPerReading: number;
}

export interface SignalState {
  /** mulberry32 state (uint32). */
  rng: number;
  profile: SensorProfile;
  pressure: number;
  battery: number;
}

export const BOUNDS = {
  temperature: { min: 10, max: 32 },
  humidity: { min: 0, max: 100 },
  pressure: { min: 950, max: 1050 },
  battery: { min: 0, max: 100 },
} as const;

const DAY_MS = 24 * 60 * 60 * 1000;
const TEMPERATURE_NOISE = 0.4;
const HUMIDITY_PER_DEGREE = 2.5;
const HUMIDITY_NOISE = 1.5;
const PRESSURE_STEP = 0.05;
const PRESSURE_REVERSION = 0.002;

/** One step of mulberry32: a uniform number in [0, 1) and the next state. */
export function nextRandom(state: number): [number, number] {
  const next = (state + 0x6d2b79f5) >>> 0;
  let t = next;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return [((t ^ (t >>> 14)) >>> 0) / 4294967296, next];
}

/** A 32-bit seed for one sensor from the run's seed and its id (FNV-1a over both). */
export function sensorSeed(seed: number, sensorId: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  h = Math.imul(h, 0x01000193) >>> 0;
  for (const ch of `${Math.floor(seed / 4294967296)}:${sensorId}`) {
    h ^= ch.codePointAt(0) ?? 0;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Noise in [-1, 1], roughly bell-shaped (mean of three uniforms), and the next state. */
function noise(state: number): [number, number] {
  let s = state;
  let sum = 0;
  for (let i = 0; i < 3; i++) {
    const [u, next] = nextRandom(s);
    sum += u;
    s = next;
  }
  return [(sum / 3) * 2 - 1, s];
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

export function initialSignalState(seed: number, sensorId: string): SignalState {
  let rng = sensorSeed(seed, sensorId);
  const draws: number[] = [];
  for (let i = 0; i < 6; i++) {
    const [u, next] = nextRandom(rng);
    draws.push(u);
    rng = next;
  }
  const profile: SensorProfile = {
    baseTemperature: 18 + draws[0] * 6,
    dailyAmplitude: 2 + draws[1] * 3,
    baseHumidity: 40 + draws[2] * 20,
    basePressure: 1000 + draws[3] * 25,
    drainPerReading: 0.0005 + draws[4] * 0.0015,
  };
  return { rng, profile, pressure: profile.basePressure, battery: round(90 + draws[5] * 10, 2) };
}

/** The daily cycle alone, without noise: coolest at 03:00 UTC, warmest at 15:00 UTC. */
export function dailyCycle(profile: SensorProfile, ts: number): number {
  const dayFraction = (((ts % DAY_MS) + DAY_MS) % DAY_MS) / DAY_MS;
  return profile.baseTemperature + profile.dailyAmplitude * Math.sin(2 * Math.PI * (dayFraction - 0.375));
}

/** The reading at `ts` and the state after it. */
export function nextSignals(state: SignalState, ts: number): { values: SignalValues; state: SignalState } {
  const { profile } = state;
  let rng = state.rng;
  let n: number;

  [n, rng] = noise(rng);
  const temperature = clamp(dailyCycle(profile, ts) + n * TEMPERATURE_NOISE, BOUNDS.temperature.min, BOUNDS.temperature.max);

  [n, rng] = noise(rng);
  const humidity = clamp(
    profile.baseHumidity - HUMIDITY_PER_DEGREE * (temperature - profile.baseTemperature) + n * HUMIDITY_NOISE,
    BOUNDS.humidity.min,
    BOUNDS.humidity.max,
  );

  [n, rng] = noise(rng);
  const pressure = clamp(
    state.pressure + n * PRESSURE_STEP + PRESSURE_REVERSION * (profile.basePressure - state.pressure),
    BOUNDS.pressure.min,
    BOUNDS.pressure.max,
  );

  const battery = Math.max(BOUNDS.battery.min, state.battery - profile.drainPerReading);

  return {
    values: {
      temperature: round(temperature, 2),
      humidity: round(humidity, 1),
      pressure: round(pressure, 2),
      battery: round(battery, 2),
    },
    state: { rng, profile, pressure, battery },
  };
}
