import { beforeAll, describe, expect, it } from 'vitest';
import { actionsOf, actionsOn, arnOf, resourcesOf, roleStatements, type SynthesizedVigia, synthVigia } from './synth.js';

let vigia: SynthesizedVigia;
beforeAll(() => {
  vigia = synthVigia();
});

type Fn = SynthesizedVigia['stack']['api']['handler'];

function statementsOf(fn: Fn) {
  return roleStatements(vigia.template, vigia.logicalId(fn.role!));
}

function tables() {
  const { history, realtime } = vigia.stack;
  return {
    readings: arnOf(vigia.logicalId(history.readingsTable)),
    rollups: arnOf(vigia.logicalId(history.rollupsTable)),
    sensors: arnOf(vigia.logicalId(history.sensorsTable)),
    connections: arnOf(vigia.logicalId(realtime.connectionsTable)),
  };
}

/** DynamoDB actions granted per table; a table absent from `expected` must have none. */
function expectDynamoGrants(fn: Fn, expected: Partial<Record<keyof ReturnType<typeof tables>, string[]>>) {
  const statements = statementsOf(fn);
  for (const [name, arn] of Object.entries(tables())) {
    const granted = actionsOn(statements, arn).filter((a) => a.startsWith('dynamodb:'));
    expect(granted, `${name} table`).toEqual([...(expected[name as keyof typeof expected] ?? [])].sort());
  }
  const allDynamo = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('dynamodb:')));
  for (const s of allDynamo) {
    expect(
      actionsOf(s).every((a) => !a.includes('*')),
      'no wildcard DynamoDB action',
    ).toBe(true);
  }
}

/** Every action of the role, whatever the resource. */
const allActions = (fn: Fn) => statementsOf(fn).flatMap(actionsOf);

describe('Least privilege per function', () => {
  it('history writer: its history tables, the sensors registry, sqs:SendMessage on the dead-letter queue', () => {
    const fn = vigia.stack.telemetry.historyWriter;
    // Alerts (contract §8) are evaluated here: the registry's newest readings (BatchGetItem), and alert
    // frames to every connection (Query, closing gone ones with DeleteItem + UpdateItem, ManageConnections).
    expectDynamoGrants(fn, {
      readings: ['dynamodb:PutItem', 'dynamodb:BatchWriteItem', 'dynamodb:BatchGetItem', 'dynamodb:Query'],
      // Buckets new to the table are put in batches (BatchWriteItem), the others one by one on a condition.
      rollups: ['dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem'],
      sensors: ['dynamodb:UpdateItem', 'dynamodb:BatchGetItem'],
      connections: ['dynamodb:Query', 'dynamodb:DeleteItem', 'dynamodb:UpdateItem'],
    });
    const queue = arnOf(vigia.logicalId(vigia.stack.telemetry.deadLetterQueue));
    expect(actionsOn(statementsOf(fn), queue)).toContain('sqs:SendMessage');
    expect(allActions(fn)).not.toContain('iot:Publish');
  });

  it('broadcaster: connections only, plus pushing to connections', () => {
    const fn = vigia.stack.telemetry.broadcaster;
    expectDynamoGrants(fn, {
      // Live marks are added to with UpdateItem (DynamoConnectionRegistry.addLiveMarks); nothing writes it in batches.
      connections: ['BatchGetItem', 'DeleteItem', 'GetItem', 'PutItem', 'Query', 'UpdateItem'].map((a) => `dynamodb:${a}`),
    });
    expect(allActions(fn)).toContain('execute-api:ManageConnections');
  });

  it('presence: sensors registry and connections, plus pushing to connections', () => {
    const fn = vigia.stack.telemetry.presence;
    expectDynamoGrants(fn, {
      sensors: ['dynamodb:UpdateItem'],
      // A gone connection is closed: deleted, and the subscriptions' version moved on (DynamoConnectionRegistry.close).
      connections: ['dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:DeleteItem', 'dynamodb:UpdateItem'],
    });
    expect(allActions(fn)).toContain('execute-api:ManageConnections');
  });

  it('websocket: connections, reading sensors, publishing commands only on sensors/*/commands', () => {
    const fn = vigia.stack.realtime.webSocketFunction;
    expectDynamoGrants(fn, {
      // One connection's item at a time: never a Query, never a batch.
      connections: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
      sensors: ['dynamodb:GetItem'],
    });
    const publish = statementsOf(fn).filter((s) => actionsOf(s).includes('iot:Publish'));
    expect(publish).toHaveLength(1);
    expect(actionsOf(publish[0]!)).toEqual(['iot:Publish']);
    const [resource] = resourcesOf(publish[0]!);
    const joined = JSON.stringify(resource);
    expect(joined).toMatch(/:topic\/sensors\/\*\/commands"\]\]\}$/);
    expect(joined).toContain('{"Ref":"AWS::AccountId"}');
    expect(allActions(fn)).toContain('execute-api:ManageConnections');
  });

  it('http api: reads history only; writes only alert rules, states and events (contract §8)', () => {
    const fn = vigia.stack.api.handler;
    expectDynamoGrants(fn, {
      readings: ['dynamodb:Query'],
      rollups: ['dynamodb:Query'],
      sensors: ['dynamodb:GetItem', 'dynamodb:Scan'],
      // An acknowledgement is pushed to every dashboard as an alert frame (a gone connection closed on the way).
      connections: ['dynamodb:Query', 'dynamodb:DeleteItem', 'dynamodb:UpdateItem'],
    });
    const alerts = arnOf(vigia.logicalId(vigia.stack.alerts.table));
    const writes = ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'];
    const alertsWrites = actionsOn(statementsOf(fn), alerts).filter((a) => writes.includes(a));
    expect(alertsWrites).toEqual(['dynamodb:BatchWriteItem', 'dynamodb:DeleteItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem']);
    const history = [vigia.stack.history.readingsTable, vigia.stack.history.rollupsTable, vigia.stack.history.sensorsTable];
    for (const table of history) {
      expect(actionsOn(statementsOf(fn), arnOf(vigia.logicalId(table))).filter((a) => writes.includes(a))).toEqual([]);
    }
    expect(allActions(fn)).not.toContain('sqs:SendMessage');
  });

  it('pushing to connections is limited to the WebSocket stage', () => {
    const apiId = vigia.logicalId(vigia.stack.realtime.webSocketApi);
    const stageName = vigia.stack.realtime.stage.stageName;
    for (const fn of [vigia.stack.telemetry.broadcaster, vigia.stack.telemetry.presence, vigia.stack.realtime.webSocketFunction]) {
      const manage = statementsOf(fn).filter((s) => actionsOf(s).includes('execute-api:ManageConnections'));
      expect(manage).toHaveLength(1);
      const resource = JSON.stringify(resourcesOf(manage[0]!));
      expect(resource).toContain(`{"Ref":"${apiId}"}`);
      expect(resource).toContain(`/${stageName}/*/@connections/*`);
    }
  });

  it('no function role has an AWS managed policy or a "*" resource', () => {
    const s = vigia.stack;
    for (const fn of [
      s.telemetry.historyWriter,
      s.telemetry.broadcaster,
      s.telemetry.presence,
      s.realtime.webSocketFunction,
      s.api.handler,
    ]) {
      const role = vigia.template.toJSON().Resources[vigia.logicalId(fn.role!)];
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
      for (const st of statementsOf(fn)) expect(resourcesOf(st)).not.toContain('*');
    }
  });
});
