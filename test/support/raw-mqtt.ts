/**
 * A raw MQTT client for hostile-input tests: packets built by hand (no library smoothing them over), written
 * on a plain or TLS socket, and every byte the broker answers kept, so a test can send what a real client
 * library would refuse to send and see exactly what came back.
 */
import net from 'node:net';
import tls from 'node:tls';

export type ProtocolLevel = 4 | 5;

function utf8String(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  const length = Buffer.alloc(2);
  length.writeUInt16BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

function remainingLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let digit = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) digit |= 0x80;
    out.push(digit);
  } while (n > 0);
  return Buffer.from(out);
}

function packet(firstByte: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([firstByte]), remainingLength(body.length), body]);
}

/** MQTT 5 packets carry a property length (0 here: no properties). */
const noProperties = (level: ProtocolLevel) => (level === 5 ? Buffer.from([0]) : Buffer.alloc(0));
const packetId = (id: number) => Buffer.from([(id >> 8) & 0xff, id & 0xff]);

export const rawPackets = {
  /** CONNECT with a clean session, keep-alive 30 s, no credentials. */
  connect(clientId: string, level: ProtocolLevel): Buffer {
    return packet(0x10, Buffer.concat([utf8String('MQTT'), Buffer.from([level, 0x02, 0, 30]), noProperties(level), utf8String(clientId)]));
  },
  subscribe(topic: string, level: ProtocolLevel, id: number): Buffer {
    return packet(0x82, Buffer.concat([packetId(id), noProperties(level), utf8String(topic), Buffer.from([1])]));
  },
  unsubscribe(topic: string, level: ProtocolLevel, id: number): Buffer {
    return packet(0xa2, Buffer.concat([packetId(id), noProperties(level), utf8String(topic)]));
  },
  /** PUBLISH at QoS 1. */
  publish(topic: string, payload: string, level: ProtocolLevel, id: number): Buffer {
    return packet(0x32, Buffer.concat([utf8String(topic), packetId(id), noProperties(level), Buffer.from(payload)]));
  },
  disconnect(level: ProtocolLevel): Buffer {
    return level === 5 ? Buffer.from([0xe0, 0x01, 0x00]) : Buffer.from([0xe0, 0x00]);
  },
};

export interface RawSession {
  /** Every byte the broker sent, in order. */
  readonly received: Buffer;
  /** True once the broker (or the network) closed the socket. */
  readonly closed: boolean;
  write(bytes: Buffer): void;
  /** Waits until at least `bytes` bytes arrived or the socket closed (resolves either way after `ms`). */
  waitForBytes(bytes: number, ms?: number): Promise<void>;
  end(): Promise<void>;
}

export interface RawTarget {
  host: string;
  port: number;
  /** For the TLS port: the client certificate, its key and the CA to trust. */
  tls?: { key: string; cert: string; ca: string };
}

/** Opens a socket (TLS when `target.tls`), waiting for the handshake. */
export function openRawSession(target: RawTarget): Promise<RawSession> {
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    let closed = false;
    const waiters: Array<() => void> = [];
    const wake = () => {
      for (const w of waiters.splice(0)) w();
    };
    const socket: net.Socket = target.tls
      ? tls.connect({ host: target.host, port: target.port, ...target.tls, servername: 'localhost' }, () => resolve(session))
      : net.connect(target.port, target.host, () => resolve(session));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      wake();
    });
    socket.on('error', (err) => {
      if (!closed && received.length === 0) reject(err);
    });
    socket.on('close', () => {
      closed = true;
      wake();
    });
    const session: RawSession = {
      get received() {
        return received;
      },
      get closed() {
        return closed;
      },
      write(bytes) {
        if (!socket.destroyed) socket.write(bytes);
      },
      waitForBytes(bytes, ms = 5000) {
        return new Promise<void>((done) => {
          const timer = setTimeout(done, ms);
          const check = () => {
            if (closed || received.length >= bytes) {
              clearTimeout(timer);
              done();
            } else waiters.push(check);
          };
          check();
        });
      },
      end() {
        return new Promise<void>((done) => {
          if (closed) return done();
          socket.once('close', () => done());
          socket.end();
          setTimeout(() => socket.destroy(), 1000).unref();
        });
      },
    };
  });
}

/** The CONNACK's return code (3.1.1) or reason code (5), or undefined when no CONNACK came first. */
export function connackCode(received: Buffer): number | undefined {
  // 0x20, remaining length, acknowledge flags, then the code in both protocol levels.
  if (received.length < 4 || received[0] !== 0x20) return undefined;
  return received[3];
}
