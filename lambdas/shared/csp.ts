/**
 * The dashboard's Content-Security-Policy, one text for CloudFront's response headers policy and the local
 * front door. Scripts and styles only from the dashboard's own origin (no inline script, no eval), so an
 * HTML fragment a device smuggles into a unit or a name can never run; `connect-src` names the only
 * endpoints the app talks to.
 */
export function dashboardContentSecurityPolicy(connectSources: readonly string[]): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    // The favicon is a data: URI; uPlot draws on canvas.
    "img-src 'self' data:",
    `connect-src 'self' ${connectSources.join(' ')}`.trim(),
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}
