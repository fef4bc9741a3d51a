// The entry of a handler thread (local/handler-thread.ts): plain JavaScript, so the thread starts whatever loader
// its host runs with (tsx for `npm start`, vitest's in tests); the TypeScript behind it loads through tsx's own
// scoped loader, which leaves any other loader alone.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';
import { lowerPriority } from './thread-priority.mjs';

lowerPriority(workerData?.nice);

const scoped = register({ namespace: 'vigia-handler-thread' });
await scoped.import('./handler-thread-main.ts', import.meta.url);
