/**
 * `npm run cert -- <sensorId> [more ids]`: issues device certificates from the local CA into
 * `<DATA_DIR>/certs/` (DATA_DIR defaults to `.data`, as for `npm start`).
 */
import { SENSOR_ID_PATTERN } from '../lambdas/shared/names.js';
import { ensureCa, issueDeviceCert } from './ca.js';

const USAGE = 'Usage: npm run cert -- <sensorId> [more sensorIds]';

async function main(argv: string[]): Promise<number> {
  // A leading `--` is the end-of-options marker when run as `tsx local/cert-cli.ts -- <ids>`.
  const sensorIds = argv[0] === '--' ? argv.slice(1) : argv;
  if (sensorIds.length === 0) {
    console.error(`No sensorId given.\n${USAGE}`);
    return 1;
  }
  const invalid = sensorIds.filter((id) => !SENSOR_ID_PATTERN.test(id));
  if (invalid.length > 0) {
    // Nothing is written when any id is bad, so a typo never leaves a half-done batch.
    console.error(
      `Invalid sensorId ${invalid.map((id) => `"${id}"`).join(', ')}: a sensorId matches ${SENSOR_ID_PATTERN} ` +
        `(1 to 64 letters, digits, _ or -).\n${USAGE}`,
    );
    return 1;
  }
  const dataDir = process.env.DATA_DIR || '.data';
  const ca = await ensureCa(dataDir);
  console.log(`CA certificate: ${ca.certPath}`);
  for (const sensorId of sensorIds) {
    const files = await issueDeviceCert(dataDir, sensorId);
    console.log(`${sensorId}: certificate ${files.certPath}, key ${files.keyPath}`);
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  },
);
