/**
 * Verifies sign-in tokens (contract §5): RS256 signature against the issuer's JWKS, issuer, audience and
 * expiry, with aws-jwt-verify. The same adapter runs in Lambda (Cognito) and in the local runtime (its
 * local issuer), which serves its JWKS over plain http: hence a fetcher on the runtime's own `fetch`.
 */
import { FetchError, JwtBaseError } from 'aws-jwt-verify/error';
import type { Fetcher } from 'aws-jwt-verify/https';
import { SimpleJwksCache } from 'aws-jwt-verify/jwk';
import { JwtRsaVerifier } from 'aws-jwt-verify';
import type { Claims, TokenVerifier } from '../core/ports.js';

export interface JwtSettings {
  /** `https://cognito-idp.{region}.amazonaws.com/{userPoolId}`, or the local issuer. */
  readonly issuer: string;
  /** The app client id: ID tokens carry it as `aud`. */
  readonly audience: string;
  readonly jwksUri: string;
}

/** Fetches a JWKS with the runtime's fetch (http and https), failing after `timeoutMs`. */
export class HttpFetcher implements Fetcher {
  constructor(private readonly timeoutMs = 3000) {}

  async fetch(uri: string): Promise<ArrayBuffer> {
    let res: Response;
    try {
      res = await fetch(uri, { signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      throw new FetchError(uri, (err as Error).message);
    }
    if (res.status !== 200) throw new FetchError(uri, `Status code is ${res.status}, expected 200`);
    return res.arrayBuffer();
  }
}

export class JwtTokenVerifier implements TokenVerifier {
  private readonly verifier;

  constructor(settings: JwtSettings, fetcher: Fetcher = new HttpFetcher()) {
    this.verifier = JwtRsaVerifier.create(
      { issuer: settings.issuer, audience: settings.audience, jwksUri: settings.jwksUri },
      { jwksCache: new SimpleJwksCache({ fetcher }) },
    );
  }

  /** The claims of a valid token; null for a bad one. An unreachable JWKS is not the caller's fault: it throws. */
  async verify(token: string): Promise<Claims | null> {
    try {
      return (await this.verifier.verify(token)) as Claims;
    } catch (err) {
      if (err instanceof FetchError) throw err;
      if (err instanceof JwtBaseError) return null;
      throw err;
    }
  }
}
