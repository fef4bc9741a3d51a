import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import * as IoT from '@aws-sdk/client-iot';
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

const iotMock = mockClient(IoT.IoTClient);
const cfnMock = mockClient(CloudFormationClient);
const iot = new IoT.IoTClient({ region: 'eu-west-1' });
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
  iotMock.on(IoT.CreateKeysAndCertificateCommand).resolves({
    certificateArn: certArn,
    certificateId: certId,
    certificatePem: certPem,
    keyPair: { PrivateKey: deviceKey, PublicKey: 'unused' },
  });
});

describe('provisioning a device', () => {
  it('creates the thing, an active certificate, attaches the policy, then the principal, and writes 0600 files', async () => {
    iotMock.on(IoT.DescribeThingCommand).rejects(notFound());
    const result = await provisionDevice(iot, 'sim-1', { certDir, policyName: POLICY });

    expect(commandNames()).toEqual([
      'DescribeThingCommand',
      'CreateThingCommand',
      'CreateKeysAndCertificateCommand',
      'AttachPolicyCommand',
      'AttachThingPrincipalCommand',
    ]);
    expect(iotMock).toHaveReceivedCommandWith(IoT.CreateThingCommand, { thingName: 'sim-1' });
    expect(iotMock).toHaveReceivedCommandWith(IoT.CreateKeysAndCertificateCommand, { setAsActive: true });
    expect(iotMock).toHaveReceivedCommandWith(IoT.AttachPolicyCommand, { policyName: POLICY, target: certArn });
    expect(iotMock).toHaveReceivedCommandWith(IoT.AttachThingPrincipalCommand, { thingName: 'sim-1', principal: certArn });
    expect(result).toMatchObject({ sensorId: 'sim-1', certificateArn: certArn, created: true });
    expect(await readFile(join(certDir, 'sim-1.crt'), 'utf8')).toBe(certPem);
    expect((await stat(join(certDir, 'sim-1.key'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(certDir, 'sim-1.crt'))).mode & 0o777).toBe(0o600);
  });

  it('is idempotent: a thing already holding the local certificate gets no new certificate', async () => {
    await writeFile(join(certDir, 'sim-1.crt'), certPem);
    iotMock.on(IoT.DescribeThingCommand).resolves({ thingName: 'sim-1' });
    iotMock.on(IoT.ListThingPrincipalsCommand).resolves({ principals: [certArn] });

    const result = await provisionDevice(iot, 'sim-1', { certDir, policyName: POLICY });

    expect(result.created).toBe(false);
    expect(iotMock).not.toHaveReceivedCommand(IoT.CreateThingCommand);
    expect(iotMock).not.toHaveReceivedCommand(IoT.CreateKeysAndCertificateCommand);
    expect(iotMock).not.toHaveReceivedCommand(IoT.AttachThingPrincipalCommand);
    expect(iotMock).toHaveReceivedCommandWith(IoT.AttachPolicyCommand, { policyName: POLICY, target: certArn });
  });

  it('adds a certificate to an existing thing whose key is not on disk, without creating the thing again', async () => {
    iotMock.on(IoT.DescribeThingCommand).resolves({ thingName: 'sim-1' });
    iotMock.on(IoT.ListThingPrincipalsCommand).resolves({ principals: [] });
    await provisionDevice(iot, 'sim-1', { certDir, policyName: POLICY });
    expect(iotMock).not.toHaveReceivedCommand(IoT.CreateThingCommand);
    expect(iotMock).toHaveReceivedCommandOnce(IoT.CreateKeysAndCertificateCommand);
  });

  it('cleans up when a step fails: detaches the policy, deactivates and deletes the certificate, deletes the thing and the files', async () => {
    iotMock.on(IoT.DescribeThingCommand).rejects(notFound());
    iotMock.on(IoT.AttachThingPrincipalCommand).rejects(new Error('throttled'));

    await expect(provisionDevice(iot, 'sim-1', { certDir, policyName: POLICY })).rejects.toThrow(/Provisioning sim-1 failed: throttled/);

    expect(commandNames().slice(5)).toEqual([
      'DetachPolicyCommand',
      'UpdateCertificateCommand',
      'DeleteCertificateCommand',
      'DeleteThingCommand',
    ]);
    expect(iotMock).toHaveReceivedCommandWith(IoT.UpdateCertificateCommand, { certificateId: certId, newStatus: 'INACTIVE' });
    expect(iotMock).toHaveReceivedCommandWith(IoT.DeleteCertificateCommand, { certificateId: certId });
    expect(iotMock).toHaveReceivedCommandWith(IoT.DeleteThingCommand, { thingName: 'sim-1' });
    expect(existsSync(join(certDir, 'sim-1.key'))).toBe(false);
    expect(existsSync(join(certDir, 'sim-1.crt'))).toBe(false);
  });

  it('rolls back like --delete: a certificate delete refused while the policy detach settles is retried', async () => {
    iotMock.on(IoT.DescribeThingCommand).rejects(notFound());
    iotMock.on(IoT.AttachThingPrincipalCommand).rejects(new Error('throttled'));
    iotMock
      .on(IoT.DeleteCertificateCommand)
      .rejectsOnce(Object.assign(new Error('policy still attached'), { name: 'DeleteConflictException' }))
      .resolves({});
    const waits: number[] = [];
    await expect(provisionDevice(iot, 'sim-1', { certDir, policyName: POLICY, sleep: async (ms) => void waits.push(ms) })).rejects.toThrow(
      /Provisioning sim-1 failed: throttled/,
    );
    expect(iotMock).toHaveReceivedCommandTimes(IoT.DeleteCertificateCommand, 2);
    expect(waits).toEqual([1000]);
    expect(iotMock).toHaveReceivedCommandWith(IoT.DeleteThingCommand, { thingName: 'sim-1' });
  });

  it('does not delete a thing it did not create', async () => {
    iotMock.on(IoT.DescribeThingCommand).resolves({ thingName: 'sim-1' });
    iotMock.on(IoT.ListThingPrincipalsCommand).resolves({ principals: [] });
    iotMock.on(IoT.AttachPolicyCommand).rejects(new Error('no such policy'));
    await expect(provisionDevice(iot, 'sim-1', { certDir, policyName: POLICY })).rejects.toThrow(/no such policy/);
    expect(iotMock).toHaveReceivedCommand(IoT.DeleteCertificateCommand);
    expect(iotMock).not.toHaveReceivedCommand(IoT.DeleteThingCommand);
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
    iotMock.on(IoT.DescribeEndpointCommand).resolves({ endpointAddress: 'abc-ats.iot.eu-west-1.amazonaws.com' });
    await expect(dataEndpoint(iot)).resolves.toBe('abc-ats.iot.eu-west-1.amazonaws.com');
    expect(iotMock).toHaveReceivedCommandWith(IoT.DescribeEndpointCommand, { endpointType: 'iot:Data-ATS' });
  });
});

describe('decommissioning a device', () => {
  it('detaches, deactivates and deletes each certificate, then deletes the thing and the files', async () => {
    await writeFile(join(certDir, 'sim-1.crt'), certPem);
    await writeFile(join(certDir, 'sim-1.key'), 'key');
    iotMock.on(IoT.ListThingPrincipalsCommand).resolves({ principals: [certArn] });
    iotMock.on(IoT.ListAttachedPoliciesCommand).resolves({ policies: [{ policyName: POLICY }] });

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
    expect(iotMock).toHaveReceivedCommandWith(IoT.DetachThingPrincipalCommand, { thingName: 'sim-1', principal: certArn });
    expect(iotMock).toHaveReceivedCommandWith(IoT.DetachPolicyCommand, { policyName: POLICY, target: certArn });
    expect(iotMock).toHaveReceivedCommandWith(IoT.UpdateCertificateCommand, { certificateId: certId, newStatus: 'INACTIVE' });
    expect(existsSync(join(certDir, 'sim-1.key'))).toBe(false);
  });

  it('is idempotent: a thing that is gone is nothing to do', async () => {
    iotMock.on(IoT.ListThingPrincipalsCommand).rejects(notFound());
    await expect(decommissionDevice(iot, 'sim-1', { certDir })).resolves.toEqual({ sensorId: 'sim-1', removed: false });
    expect(iotMock).not.toHaveReceivedCommand(IoT.DeleteThingCommand);
  });

  it('retries a delete that still sees a detaching principal', async () => {
    iotMock.on(IoT.ListThingPrincipalsCommand).resolves({ principals: [certArn] });
    iotMock.on(IoT.ListAttachedPoliciesCommand).resolves({ policies: [] });
    iotMock
      .on(IoT.DeleteCertificateCommand)
      .rejectsOnce(Object.assign(new Error('still attached'), { name: 'DeleteConflictException' }))
      .resolves({});
    await decommissionDevice(iot, 'sim-1', { certDir, sleep: async () => {} });
    expect(iotMock).toHaveReceivedCommandTimes(IoT.DeleteCertificateCommand, 2);
    expect(iotMock).toHaveReceivedCommand(IoT.DeleteThingCommand);
  });
});
