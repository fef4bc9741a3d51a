/**
 * `npm run provision -- <sensorId...> [--cert-dir certs] [--policy <name>] [--stack VigiaStack] [--delete]`
 * Registers the devices in AWS IoT (region and credentials from the usual AWS environment) and prints
 * the data endpoint for `npm run sim -- --endpoint`.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { IoTClient } from '@aws-sdk/client-iot';
import { dataEndpoint, decommissionDevice, devicePolicyFromStack, provisionDevice, STACK_NAME } from './provision.js';

const USAGE = `Usage: npm run provision -- <sensorId...> [options]
  --cert-dir <dir>   where <sensorId>.crt and .key are written (default certs)
  --policy <name>    device policy (default: output DevicePolicyName of the stack)
  --stack <name>     stack to read the policy from (default ${STACK_NAME})
  --delete           decommission instead: detach, deactivate and delete the certificates, delete the things
`;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      'cert-dir': { type: 'string', default: 'certs' },
      policy: { type: 'string' },
      stack: { type: 'string', default: STACK_NAME },
      delete: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help || positionals.length === 0) {
    process.stdout.write(USAGE);
    return values.help ? 0 : 2;
  }
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  const certDir = values['cert-dir'];
  const iot = new IoTClient({});
  if (values.delete) {
    for (const sensorId of positionals) await decommissionDevice(iot, sensorId, { certDir, log });
    return 0;
  }
  const policyName = values.policy ?? (await devicePolicyFromStack(new CloudFormationClient({}), values.stack));
  for (const sensorId of positionals) await provisionDevice(iot, sensorId, { certDir, policyName, log });
  const endpoint = await dataEndpoint(iot);
  await writeFile(join(certDir, 'endpoint.txt'), `${endpoint}\n`);
  log(`endpoint: ${endpoint}`);
  log(`run: npm run sim -- --endpoint ${endpoint} --cert-dir ${certDir} --ids ${positionals.join(',')}`);
  return 0;
}

main().then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    process.stderr.write(`provision: error: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
