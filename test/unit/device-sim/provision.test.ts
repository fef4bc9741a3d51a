import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
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
  IoTClient,
  ListAttachedPoliciesCommand,
  ListThingPrincipalsCommand,
  UpdateCertificateCommand,
} from '@aws-sdk/client-iot';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestAuthority } from '../../../device-sim/testing/certs.js';
import {
  certificateIdOf,
  dataEndpoint,
  decommissionDevice,
  devicePolicyFromStack,
  provisionDevice,
} from '../../../device-sim/provision.js';

expect.extend(allCustomMatcher);

const iotMock = mockClient(IoTClient);
const cfnMock = mockClient(CloudFormationClient);
const iot = new IoTClient({ region: 'eu-west-1' });
const POLICY = 'VigiaStack-DevicePolicy-ABC';

const notFound = () => Object.assign(new Error('not found'), { name: 'ResourceNotFoundException' });
const commandNames = () => iotMock.calls().map((c) => (c.args[0] as object).constructor.name);

let certPem: string;
let certId: string;
let certArn: string;
let certDir: string;
let deviceKey: string;

beforeAll(async () => {
  const device = await (await createTestAuthority()).issue('sim-1');
  certPem = device.cert;
  deviceKey = device.key;
  certId = certificateIdOf(certPem);
  certArn = `arn:aws:iot:eu-west-1:123456789012:cert/${certId}`;
});

beforeEach(async () => {
  iotMock.reset();
  cfnMock.reset();
  certDir = await mkdtemp(join(tmpdir(), 'vigia-provision-'));
  iotMock.on(CreateKeysAndCertificateCommand).resolves({
    certificateArn: certArn,
    certificateId: certId,
    certificatePem: certPem,
    keyPair: { PrivateKey: deviceKey, PublicKey: 'unused' },
  });
});

describe('provisioning a device', () => {
  it('creates the thing, an active certificate, attaches the policy, then the principal, and writes 0600 files', async () => {
    iotMock.on(DescribeThingCommand).rejects(notFound());
    const result = await provisionDevice(iot, 'sim-1', { certDir, policyName: POLICY });

    expect(commandNames()).toEqual([
      'DescribeThingCommand',
      'CreateThingCommand',
      'CreateKeysAndCertificateCommand',
      'AttachPolicyCommand',
      'AttachThingPrincipalCommand',
    ]);
    expect(iotMock).toHaveReceivedCommandWith(CreateThingCommand, { thingName: 'sim-1' });
    expect(iotMock).toHaveReceivedCommandWith(CreateKeysAndCertificateCommand, { setAsActive: true });
    expect(iotMock).toHaveReceivedCommandWith(AttachPolicyCommand, { policyName: POLICY, target: certArn });
    expect(iotMock).toHaveReceivedCommandWith(AttachThingPrincipalCommand, { thingName: 'sim-1', principal: certArn });
    expect(result).toMatchObject({ sensorId: 'sim-1', certificateArn: certArn, created: true });
    expect(await readFile(join(certDir, 'sim-1.crt'), 'utf8')).toBe(certPem);
    expect((await stat(join(certDir, 'sim-1.key'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(certDir, 'sim-1.crt'))).mode & 0o777).toBe(0o600);
  });

  it('is idempotent: a thing already holding the local certificate gets no new certificate', async () => {
    await writeFile(join(certDir, 'sim-1.crt'), certPem);
    iotMock.on(DescribeThingCommand).resolves({ thingName: 'sim-1' });
    iotMock.on(ListThingPrincipalsCommand).resolves({ principals: [certArn] });

    const result = await provisionDevice(iot, 'sim-1', { certDir, policyName: POLICY });

    expect(result.created).toBe(false);
    expect(iotMock).not.toHaveReceivedCommand(CreateThingCommand);
    expect(iotMock).not.toHaveReceivedCommand(CreateKeysAndCertificateCommand);
    expect(iotMock).not.toHaveReceivedCommand(AttachThingPrincipalCommand);
    expect(iotMock).toHaveReceivedCommandWith(AttachPolicyCommand, { policyName: POLICY, target: certArn });
  });

  it('adds a certificate to an existing thing whose key is not on disk, without creating the thing again', async () => {
    iotMock.on(DescribeThingCommand).resolves({ thingName: 'sim-1' });
    iotMock.on(ListThingPrincipalsCommand).resolves({ principals: [] });
    await provisionDevice(iot, 'sim-1', { certDir, policyName: POLICY });
    expect(iotMock).not.toHaveReceivedCommand(CreateThingCommand);
    expect(iotMock).toHaveReceivedCommandOnce(CreateKeysAndCertificateCommand);
  });

  it('cleans up when a step fails: detaches the policy, deactivates and deletes the certificate, deletes the thing and the files', async () => {
    iotMock.on(DescribeThingCommand).rejects(notFound());
    iotMock.on(AttachThingPrincipalCommand).rejects(new Error('throttled'));

    await expect(provisionDevice(iot, 'sim-1', { certDir, policyName: POLICY })).rejects.toThrow(/Provisioning sim-1 failed: throttled/);

    expect(commandNames().slice(5)).toEqual([
      'DetachPolicyCommand',
      'UpdateCertificateCommand',
      'DeleteCertificateCommand',
      'DeleteThingCommand',
    ]);
    expect(iotMock).toHaveReceivedCommandWith(UpdateCertificateCommand, { certificateId: certId, newStatus: 'INACTIVE' });
    expect(iotMock).toHaveReceivedCommandWith(DeleteCertificateCommand, { certificateId: certId });
    expect(iotMock).toHaveReceivedCommandWith(DeleteThingCommand, { thingName: 'sim-1' });
    expect(existsSync(join(certDir, 'sim-1.key'))).toBe(false);
    expect(existsSync(join(certDir, 'sim-1.crt'))).toBe(false);
  });

  it('rolls back like --delete: a certificate delete refused while the policy detach settles is retried', async () => {
    iotMock.on(DescribeThingCommand).rejects(notFound());
    iotMock.on(AttachThingPrincipalCommand).rejects(new Error('throttled'));
    iotMock
      .on(DeleteCertificateCommand)
      .rejectsOnce(Object.assign(new Error('policy still attached'), { name: 'DeleteConflictException' }))
      .resolves({});
    const waits: number[] = [];
    await expect(provisionDevice(iot, 'sim-1', { certDir, policyName: POLICY, sleep: async (ms) => void waits.push(ms) })).rejects.toThrow(
      /Provisioning sim-1 failed: throttled/,
    );
    expect(iotMock).toHaveReceivedCommandTimes(DeleteCertificateCommand, 2);
    expect(waits).toEqual([1000]);
    expect(iotMock).toHaveReceivedCommandWith(DeleteThingCommand, { thingName: 'sim-1' });
  });

  it('does not delete a thing it did not create', async () => {
    iotMock.on(DescribeThingCommand).resolves({ thingName: 'sim-1' });
    iotMock.on(ListThingPrincipalsCommand).resolves({ principals: [] });
    iotMock.on(AttachPolicyCommand).rejects(new Error('no such policy'));
    await expect(provisionDevice(iot, 'sim-1', { certDir, policyName: POLICY })).rejects.toThrow(/no such policy/);
    expect(iotMock).toHaveReceivedCommand(DeleteCertificateCommand);
    expect(iotMock).not.toHaveReceivedCommand(DeleteThingCommand);
  });

  it('refuses an invalid sensorId before any call', async () => {
    await expect(provisionDevice(iot, 'bad id', { certDir, policyName: POLICY })).rejects.toThrow(/Invalid sensorId/);
    expect(iotMock.calls()).toHaveLength(0);
  });
});

describe('stack outputs and endpoint', () => {
  it('reads the device policy from the stack output DevicePolicyName', async () => {
    cfnMock.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: 'VigiaStack',
          CreationTime: new Date(),
          StackStatus: 'CREATE_COMPLETE',
          Outputs: [{ OutputKey: 'DevicePolicyName', OutputValue: POLICY }],
        },
      ],
    });
    await expect(devicePolicyFromStack(new CloudFormationClient({ region: 'eu-west-1' }))).resolves.toBe(POLICY);
    expect(cfnMock).toHaveReceivedCommandWith(DescribeStacksCommand, { StackName: 'VigiaStack' });
  });

  it('says to pass --policy when the output is missing', async () => {
    cfnMock
      .on(DescribeStacksCommand)
      .resolves({ Stacks: [{ StackName: 'VigiaStack', CreationTime: new Date(), StackStatus: 'CREATE_COMPLETE', Outputs: [] }] });
    await expect(devicePolicyFromStack(new CloudFormationClient({ region: 'eu-west-1' }))).rejects.toThrow(/--policy/);
  });

  it('asks for the ATS data endpoint', async () => {
    iotMock.on(DescribeEndpointCommand).resolves({ endpointAddress: 'abc-ats.iot.eu-west-1.amazonaws.com' });
    await expect(dataEndpoint(iot)).resolves.toBe('abc-ats.iot.eu-west-1.amazonaws.com');
    expect(iotMock).toHaveReceivedCommandWith(DescribeEndpointCommand, { endpointType: 'iot:Data-ATS' });
  });
});

describe('decommissioning a device', () => {
  it('detaches, deactivates and deletes each certificate, then deletes the thing and the files', async () => {
    await writeFile(join(certDir, 'sim-1.crt'), certPem);
    await writeFile(join(certDir, 'sim-1.key'), 'key');
    iotMock.on(ListThingPrincipalsCommand).resolves({ principals: [certArn] });
    iotMock.on(ListAttachedPoliciesCommand).resolves({ policies: [{ policyName: POLICY }] });

    await expect(decommissionDevice(iot, 'sim-1', { certDir, sleep: async () => {} })).resolves.toEqual({
      sensorId: 'sim-1',
      removed: true,
    });

    expect(commandNames()).toEqual([
      'ListThingPrincipalsCommand',
      'DetachThingPrincipalCommand',
      'ListAttachedPoliciesCommand',
      'DetachPolicyCommand',
      'UpdateCertificateCommand',
      'DeleteCertificateCommand',
      'DeleteThingCommand',
    ]);
    expect(iotMock).toHaveReceivedCommandWith(DetachThingPrincipalCommand, { thingName: 'sim-1', principal: certArn });
    expect(iotMock).toHaveReceivedCommandWith(DetachPolicyCommand, { policyName: POLICY, target: certArn });
    expect(iotMock).toHaveReceivedCommandWith(UpdateCertificateCommand, { certificateId: certId, newStatus: 'INACTIVE' });
    expect(existsSync(join(certDir, 'sim-1.key'))).toBe(false);
  });

  it('is idempotent: a thing that is gone is nothing to do', async () => {
    iotMock.on(ListThingPrincipalsCommand).rejects(notFound());
    await expect(decommissionDevice(iot, 'sim-1', { certDir })).resolves.toEqual({ sensorId: 'sim-1', removed: false });
    expect(iotMock).not.toHaveReceivedCommand(DeleteThingCommand);
  });

  it('retries a delete that still sees a detaching principal', async () => {
    iotMock.on(ListThingPrincipalsCommand).resolves({ principals: [certArn] });
    iotMock.on(ListAttachedPoliciesCommand).resolves({ policies: [] });
    iotMock
      .on(DeleteCertificateCommand)
      .rejectsOnce(Object.assign(new Error('still attached'), { name: 'DeleteConflictException' }))
      .resolves({});
    await decommissionDevice(iot, 'sim-1', { certDir, sleep: async () => {} });
    expect(iotMock).toHaveReceivedCommandTimes(DeleteCertificateCommand, 2);
    expect(iotMock).toHaveReceivedCommand(DeleteThingCommand);
  });
});
