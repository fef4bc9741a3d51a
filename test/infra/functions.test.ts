import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../../lambdas/shared/names.js';
import { type SynthesizedVigia, synthVigia } from './synth.js';

let vigia: SynthesizedVigia;
let resources: Record<string, any>;
beforeAll(() => {
  vigia = synthVigia();
  resources = vigia.template.toJSON().Resources;
});

/** The function's environment variables. */
function envOf(fn: Parameters<SynthesizedVigia['logicalId']>[0]): Record<string, any> {
  return resources[vigia.logicalId(fn)].Properties.Environment.Variables;
}

/** The resource a `{ Ref }` points at. */
function target(value: { Ref: string }) {
  expect(value).toEqual({ Ref: expect.any(String) });
  return resources[value.Ref];
}

const keysOf = (table: any) => table.Properties.KeySchema.map((k: any) => `${k.AttributeName}:${k.KeyType}`).join(',');

const functions = (v: SynthesizedVigia) => ({
  historyWriter: v.stack.telemetry.historyWriter,
  broadcaster: v.stack.telemetry.broadcaster,
  presence: v.stack.telemetry.presence,
  websocket: v.stack.realtime.webSocketFunction,
  httpApi: v.stack.api.handler,
});

describe('Function defaults', () => {
  it.each(['historyWriter', 'broadcaster', 'presence', 'websocket', 'httpApi'] as const)(
    '%s runs Node.js 22 on arm64, logs to its own group with a retention, names its service',
    (name) => {
      const fn = functions(vigia)[name];
      const props = resources[vigia.logicalId(fn)].Properties;
      expect(props.Runtime).toBe('nodejs22.x');
      expect(props.Architectures).toEqual(['arm64']);
      expect(props.Environment.Variables.POWERTOOLS_SERVICE_NAME).toBe('vigia');
      // Source maps ship in the bundle but are not parsed at cold start (see bench/source-maps.ts).
      expect(props.Environment.Variables.NODE_OPTIONS ?? '').not.toContain('--enable-source-maps');
      const logGroup = resources[props.LoggingConfig.LogGroup.Ref];
      expect(logGroup.Type).toBe('AWS::Logs::LogGroup');
      expect(logGroup.Properties.RetentionInDays).toBeGreaterThan(0);
      const role = resources[props.Role['Fn::GetAtt'][0]];
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    },
  );
});

describe('Asynchronous invocation (IoT rules invoke Lambda asynchronously)', () => {
  const invokeConfigOf = (fn: Parameters<SynthesizedVigia['logicalId']>[0]) => {
    const fnId = vigia.logicalId(fn);
    const configs = Object.values(resources).filter(
      (r: any) => r.Type === 'AWS::Lambda::EventInvokeConfig' && r.Properties.FunctionName.Ref === fnId,
    ) as any[];
    expect(configs).toHaveLength(1);
    return configs[0].Properties;
  };

  it('the broadcaster drops an event older than 60 s: a late live reading is noise', () => {
    expect(invokeConfigOf(vigia.stack.telemetry.broadcaster).MaximumEventAgeInSeconds).toBe(60);
  });

  it("the history writer keeps Lambda's 6 hours of retries", () => {
    const config = invokeConfigOf(vigia.stack.telemetry.historyWriter);
    expect(config.MaximumEventAgeInSeconds ?? 21_600).toBe(21_600);
  });
});

describe('Function environments point at the right resources', () => {
  it('history writer: readings, roll-ups, sensors, dead-letter queue, retention', () => {
    const env = envOf(vigia.stack.telemetry.historyWriter);
    expect(keysOf(target(env[ENV.readingsTable]))).toBe('sensorId:HASH,ts:RANGE');
    expect(keysOf(target(env[ENV.rollupsTable]))).toBe('series:HASH,ts:RANGE');
    expect(keysOf(target(env[ENV.sensorsTable]))).toBe('sensorId:HASH');
    expect(target(env[ENV.deadLetterQueueUrl]).Type).toBe('AWS::SQS::Queue');
    expect(env).toMatchObject({
      [ENV.rawRetentionDays]: '30',
      [ENV.minuteRetentionDays]: '180',
      [ENV.hourRetentionDays]: '1825',
    });
  });

  it('broadcaster and presence: connections table and the stage callback URL', () => {
    const stageName = vigia.stack.realtime.stage.stageName;
    for (const fn of [vigia.stack.telemetry.broadcaster, vigia.stack.telemetry.presence]) {
      const env = envOf(fn);
      expect(keysOf(target(env[ENV.connectionsTable]))).toBe('pk:HASH,sk:RANGE');
      expect(env[ENV.connectionsTable]).toEqual({ Ref: vigia.logicalId(vigia.stack.realtime.connectionsTable) });
      const endpoint = JSON.stringify(env[ENV.wsManagementEndpoint]);
      expect(endpoint).toMatch(/^\{"Fn::Join":\["",\["https:\/\//);
      expect(endpoint).toContain(`{"Ref":"${vigia.logicalId(vigia.stack.realtime.webSocketApi)}"}`);
      expect(endpoint).toMatch(new RegExp(`"/${stageName}"\\]\\]\\}$`));
    }
    expect(keysOf(target(envOf(vigia.stack.telemetry.presence)[ENV.sensorsTable]))).toBe('sensorId:HASH');
    expect(envOf(vigia.stack.telemetry.broadcaster)[ENV.rawRetentionDays]).toBe('30');
  });

  it('websocket: connections, sensors, management endpoint, IoT data endpoint from DescribeEndpoint', () => {
    const env = envOf(vigia.stack.realtime.webSocketFunction);
    expect(keysOf(target(env[ENV.connectionsTable]))).toBe('pk:HASH,sk:RANGE');
    expect(keysOf(target(env[ENV.sensorsTable]))).toBe('sensorId:HASH');
    expect(env[ENV.wsManagementEndpoint]).toEqual(envOf(vigia.stack.telemetry.broadcaster)[ENV.wsManagementEndpoint]);
    const lookupId = env[ENV.iotDataEndpoint]['Fn::Join'][1][1]['Fn::GetAtt'][0];
    expect(env[ENV.iotDataEndpoint]).toEqual({
      'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [lookupId, 'endpointAddress'] }]],
    });
    const lookup = resources[lookupId];
    expect(lookup.Type).toBe('Custom::AWS');
    const create = JSON.stringify(lookup.Properties.Create);
    expect(create).toContain('DescribeEndpoint');
    expect(create).toContain('iot:Data-ATS');
  });

  it('http api: readings, roll-ups, sensors, and no retention (it writes nothing that expires)', () => {
    const env = envOf(vigia.stack.api.handler);
    expect(keysOf(target(env[ENV.readingsTable]))).toBe('sensorId:HASH,ts:RANGE');
    expect(keysOf(target(env[ENV.rollupsTable]))).toBe('series:HASH,ts:RANGE');
    expect(keysOf(target(env[ENV.sensorsTable]))).toBe('sensorId:HASH');
    expect(env[ENV.rawRetentionDays]).toBeUndefined();
    expect(env[ENV.deadLetterQueueUrl]).toBeUndefined();
  });

  it('retention context keys reach the writer and the broadcaster, not the API', () => {
    const custom = synthVigia({ rawRetentionDays: '7', minuteRetentionDays: 60, hourRetentionDays: '400' });
    custom.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          [ENV.rawRetentionDays]: '7',
          [ENV.minuteRetentionDays]: '60',
          [ENV.hourRetentionDays]: '400',
        }),
      },
    });
    const apiEnv = custom.template.toJSON().Resources[custom.logicalId(custom.stack.api.handler)].Properties.Environment.Variables;
    expect(apiEnv[ENV.rawRetentionDays]).toBeUndefined();
    const broadcasterEnv =
      custom.template.toJSON().Resources[custom.logicalId(custom.stack.telemetry.broadcaster)].Properties.Environment.Variables;
    expect(broadcasterEnv[ENV.rawRetentionDays]).toBe('7');
  });

  it('a malformed retention stops the synth, naming the key', () => {
    expect(() => synthVigia({ rawRetentionDays: 'thirty' })).toThrow(/rawRetentionDays/);
  });
});
