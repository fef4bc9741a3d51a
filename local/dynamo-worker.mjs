// Runs dynalite on its own thread, so the DynamoDB stand-in gets a core of its own.
import { timingSafeEqual } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import dynalite from 'dynalite';

const server = dynalite({ path: workerData.path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });

// dynalite answers any credentials: only a caller signing with the runtime's access key id gets through.
const expected = Buffer.from(workerData.accessKeyId);
function signedByRuntime(authorization) {
  const match = /Credential=([^/,\s]+)\//.exec(authorization ?? '');
  const given = Buffer.from(match ? match[1] : '');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
const [dynaliteHandler] = server.listeners('request');
server.removeAllListeners('request');
server.on('request', (req, res) => {
  if (signedByRuntime(req.headers.authorization)) return dynaliteHandler(req, res);
  req.resume();
  const body = JSON.stringify({
    __type: 'com.amazonaws.dynamodb.v20120810#UnrecognizedClientException',
    message: 'The security token included in the request is invalid.',
  });
  res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});

server.on('error', (err) => parentPort.postMessage({ type: 'error', message: err.message, code: err.code }));
server.listen(0, workerData.host, () => {
  parentPort.postMessage({ type: 'listening', port: server.address().port });
});
// The thread's heap, for the runtime's memory gauges (its RSS is the process's, shared with the main thread).
const memoryReport = setInterval(() => {
  const { heapUsed, external, arrayBuffers } = process.memoryUsage();
  parentPort.postMessage({ type: 'memory', heapUsed, external, arrayBuffers });
}, 5000);
memoryReport.unref();

parentPort.on('message', (msg) => {
  if (msg === 'close') {
    server.close((err) => parentPort.postMessage({ type: 'closed', message: err?.message }));
  }
});
