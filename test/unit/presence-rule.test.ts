import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CERTIFICATE_PRESENCE_WHERE } from '../../lambdas/shared/rules.js';

/** The principal pattern of the presence rule's WHERE, as IoT Core's regexp_matches reads it. */
const certificatePrincipal = new RegExp(/regexp_matches\(principalIdentifier, '([^']+)'\)/.exec(CERTIFICATE_PRESENCE_WHERE)![1]);

describe('the presence rule keeps non-sensor clients out of the registry', () => {
  it('accepts an X.509 client: its principal is the certificate id, the SHA-256 of the certificate in hex', () => {
    const certificateId = createHash('sha256').update(randomBytes(900)).digest('hex');
    expect(certificatePrincipal.test(certificateId)).toBe(true);
  });

  it("refuses the IoT console's test client, a Cognito identity and a custom authorizer's principal", () => {
    for (const principal of [
      'AROASTLVWKQ4VKIMFNOIF:operator@example.com',
      'AIDAJQABLZS4A3QDU576Q',
      'eu-west-1:7f0b7c2e-1c2d-4e5f-8a9b-0c1d2e3f4a5b',
      'my-authorizer-principal',
      '',
      `${'a'.repeat(64)}:x`,
    ]) {
      expect(certificatePrincipal.test(principal), principal).toBe(false);
    }
  });

  it('leaves out connect_failed events, which share the topic filter', () => {
    expect(CERTIFICATE_PRESENCE_WHERE).toMatch(/^\(eventType = 'connected' OR eventType = 'disconnected'\) AND /);
  });
});
