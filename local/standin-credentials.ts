/**
 * The secret that lets only this runtime's handlers call its AWS stand-ins (DynamoDB, the IoT data plane,
 * the API Gateway management API, SQS). The handlers' unchanged SDK clients sign every request with the
 * access key id they are configured with; the stand-ins refuse a request not signed with this one.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';

/** Where every stand-in listens, whatever HOST the public listeners use: they are for this process only. */
export const STAND_IN_HOST = '127.0.0.1';

export interface StandInCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** Fresh credentials for one runtime (a new secret each start). */
export function newStandInCredentials(): StandInCredentials {
  return { accessKeyId: `VIGIALOCAL${randomBytes(16).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(32).toString('hex') };
}

/** True when a SigV4 `Authorization` header names the runtime's access key id. */
export function signedWith(authorization: string | undefined, accessKeyId: string): boolean {
  const match = /Credential=([^/,\s]+)\//.exec(authorization ?? '');
  const given = Buffer.from(match ? match[1] : '');
  const expected = Buffer.from(accessKeyId);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
