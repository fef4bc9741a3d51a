/** Writes docs/openapi.json from lambdas/shared/openapi.ts (`npm run openapi`); a unit test keeps the two equal. */
import { writeFile } from 'node:fs/promises';
import { openApiJson } from '../lambdas/shared/openapi.js';

const target = new URL('../docs/openapi.json', import.meta.url);
await writeFile(target, openApiJson());
console.log(`wrote ${target.pathname}`);
