/**
 * vigia device simulator: N sensors, each its own MQTT connection (client id = sensorId) through
 * aws-iot-device-sdk-v2, against AWS IoT Core or the local broker, speaking contract §2–§4.
 *
 * Public API (kept stable for the local runtime):
 *
 * ```ts
 * import { startSimulation } from '../device-sim/index.js';
 * const sim = await startSimulation({
 *   sensors: 5,                 // or ['kitchen', 'garage']; numbers give sim-1 … sim-N (see `prefix`)
 *   host: '127.0.0.1',
 *   port: 1883,                 // TCP: the local broker identifies a device by its client id
 *   protocol: 'mqtt5',          // or 'mqtt311'
 *   // tls: { caPath: '.data/certs/ca.crt', certDir: '.data/certs' },   // mutual TLS (port 8883)
 *   intervalMs: 1000,           // @default 1000; 100 … 3 600 000
 *   seed: 42,                   // @default random; deterministic signals with a seed
 *   log: (line) => console.log(line),
 * });
 * sim.stats();                  // { sensors, connected, generated, sent, acknowledged, queued, dropped, errors, perSensor }
 * await sim.stop();             // drains up to 5 s, disconnects, frees native resources
 * ```
 *
 * `startSimulation` throws {@link SimulationConfigError} for a bad option, certificate, key or an
 * unresolvable host; with `failFast` it also waits for each first connection and throws its cause.
 * Connection losses never throw: readings queue (bounded) and flush as contract batches on reconnect.
 */
export {
  startSimulation,
  SimulationConfigError,
  sensorIdsFor,
  type Simulation,
  type SimulationOptions,
  type SimulationStats,
} from './simulation.js';
export type { SensorStats } from './sensor.js';
export type { Protocol } from './transport.js';
export { UNITS, initialSignalState, nextSignals, type SignalState, type SignalValues } from './signals.js';
