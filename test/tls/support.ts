// Helpers for the TLS tests: temp dirs, minimal configs, a TLS echo server
// with perch's options on 127.0.0.1:0, and a client handshake that reports
// what it got. Certificates are made here, at test time; no key is committed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { AppConfig, CertificateFile, HttpsConfig, TlsOptions } from '../../src/config/model.ts';
import { CertStore, type CertStoreOptions } from '../../src/tls/cert-store.ts';
import { tlsServerOptions, type TlsServerOptionsInput } from '../../src/tls/server-options.ts';
import { createCaCertificate, generateKeyPem, issueLeafCertificate, type CertKeyPem } from '../../src/tls/x509.ts';

/** What tap's `t` offers that these helpers use. */
export interface Teardown {
  teardown(fn: () => void | Promise<void>): void;
}

export function tempDir(t: Teardown, prefix = 'perch-tls-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * An app as far as the TLS layer reads one (name, hostnames, the HTTP
 * service's tls_options); the rest of AppConfig is not looked at.
 */
export function app(name: string, hostnames: string[], tls: Partial<TlsOptions> = {}): AppConfig {
  const tlsOptions: TlsOptions = { alpn: ['h2', 'http/1.1'], versions: ['TLSv1.2', 'TLSv1.3'], defaultSelfSigned: false, ...tls };
  return { name, hostnames, httpService: { tlsOptions } } as unknown as AppConfig;
}

export function https(caDir: string, overrides: Partial<HttpsConfig> = {}): HttpsConfig {
  return { listen: [], certificates: [], defaultSelfSigned: false, caDir, ...overrides };
}

export async function openStore(t: Teardown, options: CertStoreOptions): Promise<CertStore> {
  const store = await CertStore.create({ pollMs: 200, debounceMs: 20, ...options });
  t.teardown(() => store.close());
  return store;
}

/** A throwaway CA for "configured" certificate files (the local CA is tested on its own). */
export async function testCa(): Promise<CertKeyPem> {
  const key = await generateKeyPem();
  return { key, cert: await createCaCertificate(key, new Date(), 1) };
}

/** Writes `<dir>/<stem>.crt` and `.key` for `name` signed by `ca`; returns the config entry. */
export async function writeCertFile(ca: CertKeyPem, dir: string, stem: string, name: string, hostnames = [name]): Promise<CertificateFile> {
  const pems = await issueLeafCertificate(ca, name, new Date(), 30);
  const file = { hostnames, cert: path.join(dir, `${stem}.crt`), key: path.join(dir, `${stem}.key`) };
  fs.writeFileSync(file.cert, pems.cert);
  fs.writeFileSync(file.key, pems.key, { mode: 0o600 });
  return file;
}

export interface Listening {
  server: tls.Server;
  port: number;
}

/** A TLS echo server with perch's options; closed, with every connection, at teardown. */
export async function listenTls(t: Teardown, store: CertStore, input: TlsServerOptionsInput = {}): Promise<Listening> {
  const server = tls.createServer(tlsServerOptions(store, input), (socket) => socket.pipe(socket));
  server.on('tlsClientError', () => {});
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return { server, port: (server.address() as import('node:net').AddressInfo).port };
}

export interface Handshake {
  ok: boolean;
  ms: number;
  socket?: tls.TLSSocket;
  error?: NodeJS.ErrnoException;
  authorized?: boolean;
  authorizationError?: string;
  protocol?: string | null;
  alpn?: string | false | null;
  fingerprint256?: string;
  subjectaltname?: string;
  cn?: string;
}

export interface HandshakeOptions extends tls.ConnectionOptions {
  /** Keep the connection open (the caller destroys `socket`). */
  keep?: boolean;
}

/** Connects to 127.0.0.1:port and reports the handshake; never rejects. */
export function handshake(port: number, options: HandshakeOptions = {}): Promise<Handshake> {
  const { keep = false, ...connect } = options;
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...connect }, () => {
      const peer = socket.getPeerCertificate();
      const result: Handshake = {
        ok: true,
        ms: performance.now() - started,
        authorized: socket.authorized,
        authorizationError: socket.authorizationError?.message ?? (socket.authorizationError as unknown as string | undefined),
        protocol: socket.getProtocol(),
        alpn: socket.alpnProtocol,
        fingerprint256: peer.fingerprint256,
        subjectaltname: peer.subjectaltname,
        cn: typeof peer.subject?.CN === 'string' ? peer.subject.CN : undefined,
      };
      if (keep) result.socket = socket;
      else socket.destroy();
      resolve(result);
    });
    socket.setTimeout(5_000, () => socket.destroy(new Error('handshake timed out')));
    socket.on('error', (error: NodeJS.ErrnoException) => resolve({ ok: false, ms: performance.now() - started, error }));
  });
}

/** Sends a line over an open connection to the echo server and waits for it to come back. */
export function echo(socket: tls.TLSSocket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (chunk: Buffer): void => {
      got += chunk.toString();
      if (got.length >= text.length) {
        socket.off('data', onData);
        resolve(got);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(text);
  });
}

/** Polls until `check` is true (or gives up after `timeoutMs`). */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 5_000, everyMs = 25): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return check();
}
