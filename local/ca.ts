/**
 * The local certificate authority: the stand-in for AWS IoT's certificate registry. It lives in
 * `<dataDir>/certs/` and is created once, then reused, so device certificates stay valid across restarts.
 * RSA 2048 with SHA-256, PEM, PKCS#8 keys: what both Node's TLS and aws-crt (the device SDK) accept.
 */
import { X509Certificate as NodeX509Certificate, randomBytes, webcrypto } from 'node:crypto';
import { chmod, link, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata polyfill.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { SENSOR_ID_PATTERN } from '../lambdas/shared/names.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const KEY_ALGORITHM = {
  name: 'RSASSA-PKCS1-v1_5',
  hash: 'SHA-256',
  publicExponent: new Uint8Array([1, 0, 1]),
  modulusLength: 2048,
} as const;

const DAY_MS = 24 * 60 * 60 * 1000;
const CA_VALIDITY_DAYS = 3650;
const BROKER_VALIDITY_DAYS = 365;
const DEVICE_VALIDITY_DAYS = 5 * 365;
/** The broker certificate is reissued at start when it expires sooner than this. */
const BROKER_RENEW_BEFORE_DAYS = 30;
/** Another process creating the CA at the same moment finishes well within this. */
const CA_CREATION_WAIT_MS = 10_000;

export const CA_SUBJECT = 'CN=vigia local CA, O=vigia';

/** PEM files of one certificate and its private key. */
export interface CertificateFiles {
  certPath: string;
  keyPath: string;
}

export interface LocalCa extends CertificateFiles {
  certPem: string;
  cert: x509.X509Certificate;
  key: CryptoKey;
}

export function certsDir(dataDir: string): string {
  return join(dataDir, 'certs');
}

/** Where `issueDeviceCert` writes a device's certificate and key. */
export function deviceCertFiles(dataDir: string, sensorId: string): CertificateFiles {
  assertSensorId(sensorId);
  const dir = certsDir(dataDir);
  return { certPath: join(dir, `${sensorId}.crt`), keyPath: join(dir, `${sensorId}.key`) };
}

function assertSensorId(sensorId: string): void {
  if (typeof sensorId !== 'string' || !SENSOR_ID_PATTERN.test(sensorId)) {
    throw new Error(`Invalid sensorId "${String(sensorId)}": it must match ${SENSOR_ID_PATTERN} (1 to 64 letters, digits, _ or -)`);
  }
}

// One creation per data folder at a time within this process.
const caByDir = new Map<string, Promise<LocalCa>>();

/** Loads the CA of `dataDir`, creating it on first use. */
export function ensureCa(dataDir: string): Promise<LocalCa> {
  const dir = certsDir(dataDir);
  let pending = caByDir.get(dir);
  if (!pending) {
    pending = loadOrCreateCa(dir);
    caByDir.set(dir, pending);
    pending.catch(() => caByDir.delete(dir));
  }
  return pending;
}

async function loadOrCreateCa(dir: string): Promise<LocalCa> {
  const certPath = join(dir, 'ca.crt');
  const keyPath = join(dir, 'ca.key');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const hasKey = await exists(keyPath);
  const hasCert = await exists(certPath);
  if (hasKey && hasCert) return loadCa(certPath, keyPath);
  if (hasCert && !hasKey) {
    throw new Error(`${certPath} exists without ${keyPath}; restore the key or delete ${dir} to start a new CA`);
  }
  if (hasKey) return waitForOtherCreator(certPath, keyPath);

  const keys = await generateKeys();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: CA_SUBJECT,
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + CA_VALIDITY_DAYS * DAY_MS),
    signingAlgorithm: KEY_ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  // The key is placed with link(), which never overwrites: of two processes creating the CA at once,
  // exactly one wins and the other waits for the winner's certificate.
  const tmpKey = `${keyPath}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmpKey, await exportKeyPem(keys.privateKey), { mode: 0o600 });
  try {
    await chmod(tmpKey, 0o600);
    await link(tmpKey, keyPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return waitForOtherCreator(certPath, keyPath);
    throw err;
  } finally {
    await rm(tmpKey, { force: true });
  }
  await writeAtomically(certPath, cert.toString('pem'), 0o644);
  return loadCa(certPath, keyPath);
}

async function waitForOtherCreator(certPath: string, keyPath: string): Promise<LocalCa> {
  const deadline = Date.now() + CA_CREATION_WAIT_MS;
  while (Date.now() < deadline) {
    if (await exists(certPath)) return loadCa(certPath, keyPath);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${keyPath} exists without ${certPath}; delete both to start a new CA`);
}

async function loadCa(certPath: string, keyPath: string): Promise<LocalCa> {
  const certPem = await readFile(certPath, 'utf8');
  const cert = new x509.X509Certificate(certPem);
  const key = await importSigningKey(await readFile(keyPath, 'utf8'));
  return { certPath, keyPath, certPem, cert, key };
}

/**
 * The broker's TLS certificate (`server.crt`, `server.key`), issued by the CA for `localhost` and
 * `127.0.0.1`. An existing one is kept unless it was issued by another CA or expires within 30 days.
 */
export async function ensureBrokerCert(dataDir: string): Promise<CertificateFiles> {
  const ca = await ensureCa(dataDir);
  const dir = certsDir(dataDir);
  const files = { certPath: join(dir, 'server.crt'), keyPath: join(dir, 'server.key') };
  if ((await exists(files.keyPath)) && (await isCurrentBrokerCert(files.certPath, ca))) return files;
  await issue(ca, files, {
    subject: 'CN=localhost, O=vigia',
    usage: x509.ExtendedKeyUsage.serverAuth,
    validityDays: BROKER_VALIDITY_DAYS,
    san: [
      { type: 'dns', value: 'localhost' },
      { type: 'ip', value: '127.0.0.1' },
    ],
  });
  return files;
}

async function isCurrentBrokerCert(certPath: string, ca: LocalCa): Promise<boolean> {
  try {
    const cert = new NodeX509Certificate(await readFile(certPath));
    const caCert = new NodeX509Certificate(ca.certPem);
    const renewAt = Date.now() + BROKER_RENEW_BEFORE_DAYS * DAY_MS;
    return cert.verify(caCert.publicKey) && new Date(cert.validTo).getTime() > renewAt;
  } catch {
    return false;
  }
}

/**
 * Issues a device certificate: subject CN = sensorId, clientAuth, written to `<dataDir>/certs/<sensorId>.crt`
 * and `.key` (mode 0600). A second call for the same sensor replaces both with a new pair.
 */
export async function issueDeviceCert(dataDir: string, sensorId: string): Promise<CertificateFiles> {
  const files = deviceCertFiles(dataDir, sensorId);
  const ca = await ensureCa(dataDir);
  await issue(ca, files, {
    subject: [{ CN: [sensorId] }],
    usage: x509.ExtendedKeyUsage.clientAuth,
    validityDays: DEVICE_VALIDITY_DAYS,
  });
  return files;
}

interface IssueRequest {
  subject: string | x509.JsonName;
  usage: x509.ExtendedKeyUsage;
  validityDays: number;
  san?: x509.JsonGeneralNames;
}

async function issue(ca: LocalCa, files: CertificateFiles, request: IssueRequest): Promise<void> {
  const keys = await generateKeys();
  const now = Date.now();
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension([request.usage]),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey),
  ];
  if (request.san) extensions.push(new x509.SubjectAlternativeNameExtension(request.san));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: request.subject,
    issuer: ca.cert.subject,
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + request.validityDays * DAY_MS),
    signingAlgorithm: KEY_ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: ca.key,
    extensions,
  });
  // Key first: a reader that sees the new certificate also sees its key.
  await writeAtomically(files.keyPath, await exportKeyPem(keys.privateKey), 0o600);
  await writeAtomically(files.certPath, cert.toString('pem'), 0o644);
}

function generateKeys(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key as webcrypto.CryptoKey);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

async function importSigningKey(pem: string): Promise<CryptoKey> {
  const [der] = x509.PemConverter.decode(pem);
  if (!der) throw new Error('CA key file holds no PEM block');
  return webcrypto.subtle.importKey('pkcs8', der, KEY_ALGORITHM, false, ['sign']) as Promise<CryptoKey>;
}

/** A positive 128-bit serial (the high bit cleared so DER keeps it unsigned and 16 bytes). */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] & 0x7f) | 0x01;
  return bytes.toString('hex');
}

async function writeAtomically(path: string, content: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, content, { mode });
  // writeFile's mode is masked by the umask; a private key must end up 0600 whatever the umask.
  await chmod(tmp, mode);
  await rename(tmp, path);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
