#!/usr/bin/env node
// Decodes a deployed function's stack trace offline with the source map that ships beside its bundle (the
// functions do not load it at cold start). Usage:
//   node scripts/decode-stack.mjs path/to/index.mjs.map < stack.txt
// Every `index.mjs:LINE:COLUMN` in the input becomes `SOURCE:LINE:COLUMN` of the TypeScript source.
import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';

const mapFile = process.argv[2];
if (!mapFile) {
  console.error('usage: node scripts/decode-stack.mjs <index.mjs.map> < stack.txt');
  process.exit(2);
}
const map = new SourceMap(JSON.parse(readFileSync(mapFile, 'utf8')));

/** `index.mjs:L:C` (1-based, as V8 prints) → the original position, or the input when the map has none. */
export function decodeLine(line) {
  return line.replace(/index\.mjs:(\d+):(\d+)/g, (whole, l, c) => {
    const entry = map.findEntry(Number(l) - 1, Number(c) - 1);
    if (!entry?.originalSource) return whole;
    return `${entry.originalSource.replace(/^(\.\.\/)+/, '')}:${entry.originalLine + 1}:${entry.originalColumn + 1}`;
  });
}

const input = readFileSync(0, 'utf8');
process.stdout.write(input.split('\n').map(decodeLine).join('\n'));
