/** The DynamoDB adapters: one document client per container, one adapter per table and use. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CachedRuleSource, DynamoAlertRuleStore, DynamoAlertStateStore, DynamoSensorActivity } from '../../adapters/dynamo-alerts.js';
import { DynamoConnectionRegistry } from '../../adapters/dynamo-connections.js';
import { DynamoReadingStore, DynamoRollupStore } from '../../adapters/dynamo-history.js';
import { DynamoSensorRegistry } from '../../adapters/dynamo-sensors.js';
import { SavedShardStates } from '../../core/live-shard.js';
import { LiveSubscriptions } from '../../core/live-subscriptions.js';
import { ALERT_RULES_TTL_DEFAULT_SECONDS, ENV, intEnv, requireEnv } from '../../shared/names.js';
import { hostBindings, hostClient, once, retention } from '../wiring.js';

export const documentClient = /* @__PURE__ */ once(() =>
  DynamoDBDocumentClient.from(hostClient(new DynamoDBClient({ ...hostBindings().dynamoClientConfig?.() })), {
    // convertClassInstanceToMap: a reading's values may hold a metric named `constructor`, which hides the
    // object's own constructor from the marshaller; without it such an item cannot be written at all.
    marshallOptions: { removeUndefinedValues: true, convertEmptyValues: false, convertClassInstanceToMap: true },
  }),
);

export const readingStore = /* @__PURE__ */ once(
  () => new DynamoReadingStore(documentClient(), requireEnv(ENV.readingsTable), retention().rawDays),
);
export const rollupStore = /* @__PURE__ */ once(
  () =>
    new DynamoRollupStore(documentClient(), requireEnv(ENV.rollupsTable), {
      minuteDays: retention().minuteDays,
      hourDays: retention().hourDays,
    }),
);
export const sensorRegistry = /* @__PURE__ */ once(() => new DynamoSensorRegistry(documentClient(), requireEnv(ENV.sensorsTable)));
export const connectionRegistry = /* @__PURE__ */ once(
  () => new DynamoConnectionRegistry(documentClient(), requireEnv(ENV.connectionsTable)),
);
/** The subscriber sets, kept for the container's life and revalidated per live batch by their version. */
export const liveSubscriptions = /* @__PURE__ */ once(() => new LiveSubscriptions(connectionRegistry()));
/** Each stream shard's live state as this container saved it last: a steady live batch claims without reading it. */
export const savedShardStates = /* @__PURE__ */ once(() => new SavedShardStates());
export const alertRuleStore = /* @__PURE__ */ once(() => new DynamoAlertRuleStore(documentClient(), requireEnv(ENV.alertsTable)));
export const alertStateStore = /* @__PURE__ */ once(() => new DynamoAlertStateStore(documentClient(), requireEnv(ENV.alertsTable)));
/** One rules cache per process: the API's changes drop it at once here, other containers within the TTL. */
export const alertRules = /* @__PURE__ */ once(
  () => new CachedRuleSource(alertRuleStore(), intEnv(ENV.alertRulesTtlSeconds, ALERT_RULES_TTL_DEFAULT_SECONDS) * 1000),
);
export const sensorActivity = /* @__PURE__ */ once(() => new DynamoSensorActivity(documentClient(), requireEnv(ENV.sensorsTable)));
