/**
 * Cloud provisioning of simulated devices: for each sensorId a thing, an active certificate with the
 * stack's device policy attached, and the certificate and key on disk (mode 0600) where the simulator
 * reads them. Idempotent; on a failed step everything this run created is removed again.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type CloudFormationClient, DescribeStacksCommand, type Stack } from '@aws-sdk/client-cloudformation';
import {
  AttachPolicyCommand,
  AttachThingPrincipalCommand,
  CreateKeysAndCertificateCommand,
  CreateThingCommand,
  DeleteCertificateCommand,
  DeleteThingCommand,
  DescribeEndpointCommand,
  DescribeThingCommand,
  DetachPolicyCommand,
  DetachThingPrincipalCommand,
  type IoTClient,
  ListAttachedPoliciesCommand,
  ListThingPrincipalsCommand,
  UpdateCertificateCommand,
} from '@aws-sdk/client-iot';
import { SENSOR_ID_PATTERN } from '../lambdas/shared/names.js';

export const STACK_NAME = 'VigiaStack';
export const DEVICE_POLICY_OUTPUT = 'DevicePolicyName';

export interface ProvisionResult {
  sensorId: string;
  certificateArn: string;
  certPath: string;
  keyPath: string;
  /** False when the thing and its certificate were already in place. */
  created: boolean;
}

export interface ProvisionOptions {
  certDir: string;
  policyName: string;
  log?: (line: string) => void;
  /** Waits between retries of a clean-up delete that IoT refuses while a detach settles. @default 1 s, 2 s, … */
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function isNotFound(error: unknown): boolean {
  return (error as { name?: string })?.name === 'ResourceNotFoundException';
}

function checkSensorId(sensorId: string): void {
  if (!SENSOR_ID_PATTERN.test(sensorId)) throw new Error(`Invalid sensorId "${sensorId}": it must match ${SENSOR_ID_PATTERN}`);
}

/** The device policy's name from the stack's outputs. */
export async function devicePolicyFromStack(cloudFormation: CloudFormationClient, stackName = STACK_NAME): Promise<string> {
  let stacks: Stack[] | undefined;
  try {
    stacks = (await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks;
  } catch (error) {
    throw new Error(`Cannot read stack ${stackName} (is it deployed in this account and region?): ${(error as Error).message}`);
  }
  const value = stacks?.[0]?.Outputs?.find((o) => o.OutputKey === DEVICE_POLICY_OUTPUT)?.OutputValue;
  if (!value) throw new Error(`Stack ${stackName} has no output ${DEVICE_POLICY_OUTPUT}; pass --policy <name>`);
  return value;
}

/** The account's IoT data ATS endpoint, for `npm run sim -- --endpoint`. */
export async function dataEndpoint(iot: IoTClient): Promise<string> {
  const { endpointAddress } = await iot.send(new DescribeEndpointCommand({ endpointType: 'iot:Data-ATS' }));
  if (!endpointAddress) throw new Error('DescribeEndpoint returned no address');
  return endpointAddress;
}

/** AWS IoT's certificate id is the SHA-256 of the certificate's DER. */
export function certificateIdOf(pem: string): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
}

async function readLocalCertificateId(certPath: string): Promise<string | undefined> {
  try {
    return certificateIdOf(await readFile(certPath, 'utf8'));
  } catch {
    return undefined;
  }
}

async function writePrivate(path: string, content: string): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, content, { mode: 0o600 });
  await rename(temp, path);
}

export async function provisionDevice(iot: IoTClient, sensorId: string, options: ProvisionOptions): Promise<ProvisionResult> {
  checkSensorId(sensorId);
  const log = options.log ?? (() => {});
  const sleep = options.sleep ?? defaultSleep;
  const certPath = join(options.certDir, `${sensorId}.crt`);
  const keyPath = join(options.certDir, `${sensorId}.key`);

  let thingExists = true;
  try {
    await iot.send(new DescribeThingCommand({ thingName: sensorId }));
  } catch (error) {
    if (!isNotFound(error)) throw error;
    thingExists = false;
  }

  if (thingExists) {
    const principals = (await iot.send(new ListThingPrincipalsCommand({ thingName: sensorId }))).principals ?? [];
    const localId = await readLocalCertificateId(certPath);
    const existing = localId ? principals.find((arn) => arn.endsWith(`/${localId}`)) : undefined;
    if (existing) {
      // Already provisioned: make sure the policy is there (AttachPolicy is idempotent) and stop.
      await iot.send(new AttachPolicyCommand({ policyName: options.policyName, target: existing }));
      log(`${sensorId}: already provisioned (${existing})`);
      return { sensorId, certificateArn: existing, certPath, keyPath, created: false };
    }
    if (principals.length > 0) log(`${sensorId}: thing has certificates whose keys are not in ${options.certDir}; adding a new one`);
  }

  const undo: Array<() => Promise<unknown>> = [];
  try {
    if (!thingExists) {
      await iot.send(new CreateThingCommand({ thingName: sensorId }));
      undo.push(() => retryConflicts(() => iot.send(new DeleteThingCommand({ thingName: sensorId })), sleep));
    }
    const created = await iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
    const certificateArn = created.certificateArn;
    const certificateId = created.certificateId;
    if (!certificateArn || !certificateId || !created.certificatePem || !created.keyPair?.PrivateKey) {
      throw new Error('CreateKeysAndCertificate returned no certificate or key');
    }
    undo.push(async () => {
      await iot.send(new UpdateCertificateCommand({ certificateId, newStatus: 'INACTIVE' }));
      // The policy was just detached: as in decommissionDevice, the delete may still see it for a moment.
      await retryConflicts(() => iot.send(new DeleteCertificateCommand({ certificateId })), sleep);
    });
    await mkdir(options.certDir, { recursive: true, mode: 0o700 });
    await writePrivate(keyPath, created.keyPair.PrivateKey);
    await writePrivate(certPath, created.certificatePem);
    undo.push(() => Promise.all([rm(keyPath, { force: true }), rm(certPath, { force: true })]));

    await iot.send(new AttachPolicyCommand({ policyName: options.policyName, target: certificateArn }));
    undo.push(() => iot.send(new DetachPolicyCommand({ policyName: options.policyName, target: certificateArn })));
    await iot.send(new AttachThingPrincipalCommand({ thingName: sensorId, principal: certificateArn }));

    log(`${sensorId}: provisioned (${certificateArn})`);
    return { sensorId, certificateArn, certPath, keyPath, created: true };
  } catch (error) {
    // Undo in reverse: detach the policy, remove the files, deactivate and delete the certificate, delete the thing.
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch (cleanupError) {
        log(`${sensorId}: clean-up step failed: ${(cleanupError as Error).message}`);
      }
    }
    throw new Error(`Provisioning ${sensorId} failed: ${(error as Error).message}`, { cause: error });
  }
}

export interface DecommissionOptions {
  certDir: string;
  log?: (line: string) => void;
  /** Waits between retries of a delete that IoT refuses while a detach settles. @default 1 s */
  sleep?: (ms: number) => Promise<void>;
}

async function retryConflicts<T>(action: () => Promise<T>, sleep: (ms: number) => Promise<void>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await action();
    } catch (error) {
      // Detaching is eventually consistent: the delete may briefly still see the attachment.
      if ((error as { name?: string }).name !== 'DeleteConflictException' || attempt >= 5) throw error;
      await sleep(1000 * (attempt + 1));
    }
  }
}

/** Detaches, deactivates and deletes the thing's certificates, deletes the thing and the local files. */
export async function decommissionDevice(
  iot: IoTClient,
  sensorId: string,
  options: DecommissionOptions,
): Promise<{ sensorId: string; removed: boolean }> {
  checkSensorId(sensorId);
  const log = options.log ?? (() => {});
  const sleep = options.sleep ?? defaultSleep;
  let principals: string[];
  try {
    principals = (await iot.send(new ListThingPrincipalsCommand({ thingName: sensorId }))).principals ?? [];
  } catch (error) {
    if (!isNotFound(error)) throw error;
    log(`${sensorId}: no such thing; nothing to remove`);
    await removeFiles(options.certDir, sensorId);
    return { sensorId, removed: false };
  }
  for (const principal of principals) {
    await iot.send(new DetachThingPrincipalCommand({ thingName: sensorId, principal }));
    const certificateId = /:cert\/([0-9a-f]+)$/.exec(principal)?.[1];
    if (!certificateId) continue;
    const policies = (await iot.send(new ListAttachedPoliciesCommand({ target: principal }))).policies ?? [];
    for (const policy of policies) {
      if (policy.policyName) await iot.send(new DetachPolicyCommand({ policyName: policy.policyName, target: principal }));
    }
    await iot.send(new UpdateCertificateCommand({ certificateId, newStatus: 'INACTIVE' }));
    await retryConflicts(() => iot.send(new DeleteCertificateCommand({ certificateId })), sleep);
  }
  await retryConflicts(() => iot.send(new DeleteThingCommand({ thingName: sensorId })), sleep);
  await removeFiles(options.certDir, sensorId);
  log(`${sensorId}: decommissioned`);
  return { sensorId, removed: true };
}

async function removeFiles(certDir: string, sensorId: string): Promise<void> {
  await rm(join(certDir, `${sensorId}.crt`), { force: true });
  await rm(join(certDir, `${sensorId}.key`), { force: true });
}
