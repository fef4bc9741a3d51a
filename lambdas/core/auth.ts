/**
 * Dashboard sign-in: roles from the identity provider's groups (Cognito groups in the cloud, the local
 * issuer's locally), and the decision every entry point shares (HTTP API, WebSocket $connect).
 */
import { ROLES } from '../shared/names.js';
import type { Claims, TokenVerifier } from './ports.js';

/** What a role may do: both read and subscribe; only an operator sends commands. */
export type Role = (typeof ROLES)[number];

/**
 * The groups claim as an array. Cognito puts an array in the ID token; API Gateway's JWT authorizer hands
 * it on flattened to a string such as `[operator viewer]`; a space-separated string is accepted as well.
 */
function groupsOf(claims: Claims): string[] {
  const groups = claims['cognito:groups'];
  if (Array.isArray(groups)) return groups.filter((g): g is string => typeof g === 'string');
  if (typeof groups === 'string') {
    return groups
      .replace(/^\[|\]$/g, '')
      .split(/[\s,]+/)
      .filter((g) => g !== '');
  }
  return [];
}

/** The strongest role the caller's groups give, or null when they give none (a 403). */
export function roleFromClaims(claims: Claims | null | undefined): Role | null {
  if (!claims) return null;
  const groups = groupsOf(claims);
  return ROLES.find((role) => groups.includes(role)) ?? null;
}

export type AuthDecision =
  | { readonly ok: true; readonly role: Role; readonly sub: string; readonly claims: Claims }
  | { readonly ok: false; readonly status: 401 | 403; readonly code: 'UNAUTHORIZED' | 'FORBIDDEN'; readonly message: string };

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined | null): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

/** 401 for a missing or invalid token, 403 for a valid one without a role, else the caller's role. */
export async function authorize(token: string | undefined | null, verifier: TokenVerifier): Promise<AuthDecision> {
  if (!token) return { ok: false, status: 401, code: 'UNAUTHORIZED', message: 'sign in: a bearer token is required' };
  const claims = await verifier.verify(token);
  if (!claims) return { ok: false, status: 401, code: 'UNAUTHORIZED', message: 'the token is invalid or expired' };
  const role = roleFromClaims(claims);
  if (!role) return { ok: false, status: 403, code: 'FORBIDDEN', message: 'the user is in neither the operator nor the viewer group' };
  return { ok: true, role, sub: typeof claims.sub === 'string' ? claims.sub : '', claims };
}
