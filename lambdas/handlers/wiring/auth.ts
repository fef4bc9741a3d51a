/** Sign-in tokens' verifier (the WebSocket $connect authorizer; the local HTTP front door borrows it). */
import { JwtTokenVerifier } from '../../adapters/jwt-verifier.js';
import type { TokenVerifier } from '../../core/ports.js';
import { ENV, requireEnv } from '../../shared/names.js';
import { once } from '../wiring.js';

/** Null when sign-in is off (AUTH_ISSUER unset). */
export const tokenVerifier = /* @__PURE__ */ once((): TokenVerifier | null =>
  process.env[ENV.authIssuer]
    ? new JwtTokenVerifier({
        issuer: requireEnv(ENV.authIssuer),
        audience: requireEnv(ENV.authAudience),
        jwksUri: requireEnv(ENV.authJwksUri),
      })
    : null,
);
