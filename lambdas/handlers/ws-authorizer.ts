/**
 * WebSocket `$connect` REQUEST authorizer (identity source `route.request.querystring.token`): the ID token
 * in `?token=` must be valid (else 'Unauthorized', a 401) and its user in the operator or viewer group (else
 * a Deny policy, a 403). The role reaches every later event of the connection as requestContext.authorizer.
 */
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent, Context } from 'aws-lambda';
import { authorize } from '../core/auth.js';
import { logger, withMetrics } from './wiring.js';
import { tokenVerifier } from './wiring/auth.js';
import { ENV, METRICS } from '../shared/names.js';

function policy(
  effect: 'Allow' | 'Deny',
  principalId: string,
  methodArn: string,
  context?: Record<string, string>,
): APIGatewayAuthorizerResult {
  return {
    principalId,
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: methodArn }],
    },
    ...(context ? { context } : {}),
  };
}

export const handler = (event: APIGatewayRequestAuthorizerEvent, context?: Context): Promise<APIGatewayAuthorizerResult> =>
  withMetrics(context, async (metrics) => {
    const verifier = tokenVerifier();
    // Fail closed: an authorizer without its settings lets no one in (API Gateway answers 500). Where sign-in is
    // off (local mode without AUTH) no authorizer is wired at all.
    if (!verifier) throw new Error(`Missing required environment variable ${ENV.authIssuer}: the authorizer refuses every connection`);
    const decision = await authorize(event.queryStringParameters?.token, verifier);
    if (!decision.ok) {
      logger.info('websocket connect refused', { status: decision.status, reason: decision.message });
      if (decision.status === 401) {
        // Counted, so the error-rate alarm can tell a stale tab's expired token from a failing authorizer.
        metrics.count(METRICS.connectUnauthorized, 1);
        throw new Error('Unauthorized');
      }
      return policy('Deny', 'unknown', event.methodArn);
    }
    return policy('Allow', decision.sub, event.methodArn, { role: decision.role, sub: decision.sub });
  });
