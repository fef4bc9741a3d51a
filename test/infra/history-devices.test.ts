import { beforeAll, describe, expect, it } from 'vitest';
import { CONNECTIONS_TABLE, READINGS_TABLE, ROLLUPS_TABLE, SENSORS_TABLE, type TableDefinition } from '../../lambdas/shared/tables.js';
import { type SynthesizedVigia, synthVigia } from './synth.js';

let vigia: SynthesizedVigia;
let resources: Record<string, any>;
beforeAll(() => {
  vigia = synthVigia();
  resources = vigia.template.toJSON().Resources;
});

describe('History tables follow their shared definitions', () => {
  const cases: [string, (v: SynthesizedVigia) => any, TableDefinition][] = [
    ['readings', (v) => v.stack.history.readingsTable, READINGS_TABLE],
    ['rollups', (v) => v.stack.history.rollupsTable, ROLLUPS_TABLE],
    ['sensors', (v) => v.stack.history.sensorsTable, SENSORS_TABLE],
    ['connections', (v) => v.stack.realtime.connectionsTable, CONNECTIONS_TABLE],
  ];

  it.each(cases)('%s: keys, TTL attribute, on-demand, PITR, encryption, retained', (_name, table, def) => {
    const resource = resources[vigia.logicalId(table(vigia))];
    const p = resource.Properties;
    const keys = [{ AttributeName: def.partitionKey.name, KeyType: 'HASH' }];
    if (def.sortKey) keys.push({ AttributeName: def.sortKey.name, KeyType: 'RANGE' });
    expect(p.KeySchema).toEqual(keys);
    for (const key of [def.partitionKey, def.sortKey].filter((k) => k !== undefined)) {
      expect(p.AttributeDefinitions).toContainEqual({ AttributeName: key.name, AttributeType: key.type });
    }
    if (def.timeToLiveAttribute) {
      expect(p.TimeToLiveSpecification).toEqual({ AttributeName: def.timeToLiveAttribute, Enabled: true });
    } else {
      expect(p.TimeToLiveSpecification).toBeUndefined();
    }
    expect(p.BillingMode).toBe('PAY_PER_REQUEST');
    expect(p.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(p.SSESpecification.SSEEnabled).toBe(true);
    expect(p.TableName).toBeUndefined();
    expect(resource.DeletionPolicy).toBe('Retain');
  });
});

describe('Device policy', () => {
  const thing = '${iot:Connection.Thing.ThingName}';

  it('lets a device connect as itself, publish its telemetry (also by Basic Ingest to the telemetry rule), subscribe to and receive its commands, nothing else', () => {
    const policy = resources[vigia.logicalId(vigia.stack.devices.devicePolicy)].Properties.PolicyDocument;
    const ruleId = vigia.logicalId(vigia.stack.telemetry.basicIngestRule!);
    const rendered = policy.Statement.map((s: any) => {
      expect(s.Effect).toBe('Allow');
      const parts = s.Resource['Fn::Join'][1];
      expect(parts).toEqual([
        'arn:',
        { Ref: 'AWS::Partition' },
        ':iot:',
        { Ref: 'AWS::Region' },
        ':',
        { Ref: 'AWS::AccountId' },
        ...parts.slice(6).map(() => expect.anything()),
      ]);
      const rest = parts
        .slice(6)
        .map((p: unknown) =>
          typeof p === 'string' ? p : JSON.stringify(p) === JSON.stringify({ Ref: ruleId }) ? '<telemetry rule>' : '<?>',
        );
      return `${s.Action} ${rest.join('')}`;
    });
    expect(rendered.sort()).toEqual(
      [
        `iot:Connect :client/${thing}`,
        `iot:Publish :topic/sensors/${thing}/telemetry`,
        `iot:Publish :topic/$aws/rules/<telemetry rule>/sensors/${thing}/telemetry`,
        `iot:Subscribe :topicfilter/sensors/${thing}/commands`,
        `iot:Receive :topic/sensors/${thing}/commands`,
      ].sort(),
    );
  });

  it('looks up the ATS data endpoint with a policy allowing iot:DescribeEndpoint only', () => {
    const lookup = Object.values(resources).find((r) => r.Type === 'Custom::AWS')!;
    const create = JSON.parse(
      lookup.Properties.Create['Fn::Join'] ? lookup.Properties.Create['Fn::Join'][1].join('') : lookup.Properties.Create,
    );
    expect(create).toMatchObject({ service: 'Iot', action: 'DescribeEndpoint', parameters: { endpointType: 'iot:Data-ATS' } });
    const policies = Object.values(resources).filter(
      (r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r).includes('iot:DescribeEndpoint'),
    );
    expect(policies).toHaveLength(1);
    expect(policies[0]!.Properties.PolicyDocument.Statement).toEqual([{ Effect: 'Allow', Action: 'iot:DescribeEndpoint', Resource: '*' }]);
  });
});
