// Runs dynalite on its own thread, so the DynamoDB stand-in gets a core of its own.
import { parentPort, workerData } from 'node:worker_threads';
import dynalite from 'dynalite';

const server = dynalite({ path: workerData.path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
server.on('error', (err) => parentPort.postMessage({ type: 'error', message: err.message, code: err.code }));
server.listen(0, workerData.host, () => {
  parentPort.postMessage({ type: 'listening', port: server.address().port });
});
parentPort.on('message', (msg) => {
  if (msg === 'close') {
    server.close((err) => parentPort.postMessage({ type: 'closed', message: err?.message }));
  }
});
