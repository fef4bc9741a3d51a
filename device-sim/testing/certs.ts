/**
 * A throw-away certificate authority for tests: a CA, a broker certificate valid for 127.0.0.1 and
 * localhost, and device certificates whose subject CN is the sensorId (contract §1).
 * Test support only; the simulator itself never imports this (it needs @peculiar/x509, a dev dependency).
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALG = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 };

export interface Pem {
  cert: string;
  key: string;
}

export interface TestAuthority {
  ca: Pem;
  /** Issues a leaf certificate; `hosts` adds SANs (IPs and DNS names) for a server certificate. */
  issue(commonName: string, hosts?: string[]): Promise<Pem>;
}

async function keyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key as unknown as webcrypto.CryptoKey);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

function serial(): string {
  return `01${Buffer.from(webcrypto.getRandomValues(new Uint8Array(8))).toString('hex')}`;
}

export async function createTestAuthority(name = 'vigia test CA'): Promise<TestAuthority> {
  const caKeys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as unknown as CryptoKeyPair;
  const notBefore = new Date(Date.now() - 60 * 60 * 1000);
  const notAfter = new Date(Date.now() + 24 * 60 * 60 * 1000);
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${name}`,
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const ca: Pem = { cert: caCert.toString('pem'), key: await keyPem(caKeys.privateKey) };

  return {
    ca,
    async issue(commonName, hosts = []) {
      const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as unknown as CryptoKeyPair;
      const extensions: x509.Extension[] = [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension(
          hosts.length > 0 ? [x509.ExtendedKeyUsage.serverAuth] : [x509.ExtendedKeyUsage.clientAuth],
          false,
        ),
        await x509.AuthorityKeyIdentifierExtension.create(caCert, false),
      ];
      if (hosts.length > 0) {
        extensions.push(
          new x509.SubjectAlternativeNameExtension(
            hosts.map((h) => (/^[0-9.]+$/.test(h) ? { type: 'ip' as const, value: h } : { type: 'dns' as const, value: h })),
          ),
        );
      }
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: serial(),
        subject: `CN=${commonName}`,
        issuer: caCert.subject,
        notBefore,
        notAfter,
        signingKey: caKeys.privateKey,
        publicKey: keys.publicKey,
        signingAlgorithm: ALG,
        extensions,
      });
      return { cert: cert.toString('pem'), key: await keyPem(keys.privateKey) };
    },
  };
}

/**
 * Writes `ca.crt`, `server.crt`/`server.key` and `<sensorId>.crt`/`.key` for each sensor into `dir`,
 * the layout the simulator reads (`--cert-dir`).
 */
export async function writeTestCertificates(dir: string, sensorIds: string[]): Promise<TestAuthority> {
  await mkdir(dir, { recursive: true });
  const authority = await createTestAuthority();
  await writeFile(join(dir, 'ca.crt'), authority.ca.cert);
  const server = await authority.issue('localhost', ['127.0.0.1', 'localhost']);
  await writeFile(join(dir, 'server.crt'), server.cert);
  await writeFile(join(dir, 'server.key'), server.key, { mode: 0o600 });
  for (const sensorId of sensorIds) {
    const device = await authority.issue(sensorId);
    await writeFile(join(dir, `${sensorId}.crt`), device.cert);
    await writeFile(join(dir, `${sensorId}.key`), device.key, { mode: 0o600 });
  }
  return authority;
}
