/**
 * Checks HTTP answers against the OpenAPI document (lambdas/shared/openapi.ts): the status is one the
 * operation lists, the content type is one it lists for that status, and a JSON body matches the schema.
 * `checkedFetch` is the fetch the integration tests' HTTP helpers go through, so every `/api` answer they
 * receive is checked; an answer the document does not allow fails the test that received it.
 */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { OPENAPI_DOCUMENT } from '../../lambdas/shared/openapi.js';

type Doc = typeof OPENAPI_DOCUMENT;
type ResponseObject = { description: string; content?: Record<string, { schema: unknown }>; $ref?: string };

const DOC_ID = 'https://vigia.invalid/openapi.json';

/** JSON pointer escaping of one token (RFC 6901). */
const token = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

export interface ApiAnswer {
  method: string;
  /** The path below the API's base, still URL-encoded, e.g. `/sensors/a/readings`. */
  path: string;
  status: number;
  contentType: string | null;
  body: string;
}

export class OpenApiChecker {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true });
  private readonly compiled = new Map<string, ValidateFunction>();
  private readonly templates: Array<{ template: string; pattern: RegExp }>;

  constructor(private readonly doc: Doc = OPENAPI_DOCUMENT) {
    addFormats.default(this.ajv);
    this.ajv.addSchema({ ...doc, $id: DOC_ID } as object, DOC_ID);
    // Literal paths win over templated ones (`/alerts/history` before a `{id}`), as OpenAPI asks.
    this.templates = Object.keys(doc.paths)
      .sort((a, b) => Number(a.includes('{')) - Number(b.includes('{')))
      .map((template) => ({
        template,
        pattern: new RegExp(
          `^${template
            .split('/')
            .map((seg) => (/^\{.+\}$/.test(seg) ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
            .join('/')}$`,
        ),
      }));
  }

  /** The problems with an answer: empty when the document allows it. */
  problems(answer: ApiAnswer): string[] {
    // The API reads a path by its non-empty segments: `/sensors/` and `//sensors` are `/sensors`.
    const path = `/${answer.path
      .split('/')
      .filter((s) => s !== '')
      .join('/')}`;
    const method = answer.method.toLowerCase() === 'head' ? 'get' : answer.method.toLowerCase();
    const found = this.templates.find((t) => t.pattern.test(path));
    const pathItem = found ? (this.doc.paths as Record<string, Record<string, unknown>>)[found.template] : undefined;
    let pointer: string;
    let responses: Record<string, ResponseObject>;
    if (!pathItem) {
      // A path the document lists nowhere: only the document's 404 (or 405 for other methods, or sign-in's refusals).
      pointer = '#/components/responses';
      responses = this.generic(['401', '403', '404', '405', '500']);
    } else if (!(method in pathItem)) {
      pointer = '#/components/responses';
      responses = this.generic(['401', '403', '405', '500']);
    } else {
      pointer = `#/paths/${token(found!.template)}/${method}/responses`;
      responses = (pathItem[method] as { responses: Record<string, ResponseObject> }).responses;
    }
    const where = `${answer.method} ${answer.path} → ${answer.status}`;
    const key = String(answer.status);
    if (!(key in responses)) return [`${where}: status ${key} is not listed (listed: ${Object.keys(responses).join(', ')})`];
    let response = responses[key];
    let responsePointer = `${pointer}/${key}`;
    if (response.$ref) {
      responsePointer = response.$ref;
      response = this.resolve(response.$ref) as ResponseObject;
    }
    if (!response.content) {
      return answer.body === '' ? [] : [`${where}: the document lists no body, yet ${answer.body.length} characters came`];
    }
    const mediaType = (answer.contentType ?? '').split(';')[0].trim().toLowerCase();
    if (!(mediaType in response.content)) {
      return [
        `${where}: content type ${JSON.stringify(answer.contentType)} is not listed (listed: ${Object.keys(response.content).join(', ')})`,
      ];
    }
    // A HEAD answer has GET's status and headers but no body.
    if (answer.method.toUpperCase() === 'HEAD') return answer.body === '' ? [] : [`${where}: a HEAD answer with a body`];
    if (mediaType !== 'application/json') return [];
    let body: unknown;
    try {
      body = JSON.parse(answer.body);
    } catch {
      return [`${where}: the body is not JSON: ${answer.body.slice(0, 200)}`];
    }
    const validate = this.validator(`${responsePointer}/content/${token(mediaType)}/schema`);
    if (validate(body)) return [];
    return (validate.errors ?? []).map((e) => `${where}: body${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
  }

  /** Throws naming every problem when the document does not allow the answer. */
  check(answer: ApiAnswer): void {
    const found = this.problems(answer);
    if (found.length > 0) {
      throw new Error(`the answer breaks docs/openapi.json:\n  ${found.slice(0, 10).join('\n  ')}\nbody: ${answer.body.slice(0, 500)}`);
    }
  }

  private generic(statuses: string[]): Record<string, ResponseObject> {
    const names: Record<string, string> = {
      '401': 'Unauthorized',
      '403': 'Forbidden',
      '404': 'NotFound',
      '405': 'MethodNotAllowed',
      '500': 'Internal',
    };
    return Object.fromEntries(statuses.map((s) => [s, { description: '', $ref: `#/components/responses/${names[s]}` }]));
  }

  private resolve(pointer: string): unknown {
    let node: unknown = this.doc;
    for (const part of pointer.replace(/^#\//, '').split('/')) {
      node = (node as Record<string, unknown>)[part.replace(/~1/g, '/').replace(/~0/g, '~')];
    }
    return node;
  }

  private validator(pointer: string): ValidateFunction {
    let validate = this.compiled.get(pointer);
    if (!validate) {
      validate = this.ajv.compile({ $ref: `${DOC_ID}${pointer}` });
      this.compiled.set(pointer, validate);
    }
    return validate;
  }
}

let shared: OpenApiChecker | undefined;
/** The checker of the repository's document, made once per test file. */
export function openApiChecker(): OpenApiChecker {
  shared ??= new OpenApiChecker();
  return shared;
}

/** The path below `/api` when `url` is an API address of the local server, else null. */
export function apiPathOf(url: string): string | null {
  const { pathname } = new URL(url);
  if (pathname === '/api') return '/';
  return pathname.startsWith('/api/') ? pathname.slice('/api'.length) : null;
}

/**
 * fetch, then, for an `/api` address, the answer checked against the OpenAPI document (throws when it breaks
 * it). The body is read here; the returned Response carries the same status, headers and body text.
 */
export async function checkedFetch(url: string, init?: RequestInit): Promise<Response> {
  const res = await fetch(url, init);
  const apiPath = apiPathOf(url);
  if (apiPath === null) return res;
  const body = await res.text();
  openApiChecker().check({
    method: init?.method ?? 'GET',
    path: apiPath,
    status: res.status,
    contentType: res.headers.get('content-type'),
    body,
  });
  return new Response(res.status === 204 || res.status === 304 ? null : body, {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers,
  });
}
