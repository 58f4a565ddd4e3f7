// Small HTTP/1.1 client helpers for tests, on one keep-alive agent per test file.
import net from 'node:net';
import { Agent, request } from 'undici';

export const agent = new Agent({ keepAliveTimeout: 1_000, connections: 256 });

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export interface Ask {
  host?: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer | NodeJS.ReadableStream | AsyncIterable<Uint8Array>;
  timeoutMs?: number;
}

export async function ask(url: string, options: Ask = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.host !== undefined) headers.host = options.host;
  const response = await request(url, {
    dispatcher: agent,
    method: (options.method ?? 'GET') as 'GET',
    headers,
    body: options.body as string | undefined,
    headersTimeout: options.timeoutMs ?? 30_000,
    bodyTimeout: options.timeoutMs ?? 30_000,
  });
  const text = await response.body.text();
  return { status: response.statusCode, headers: response.headers, text };
}

export function json<T = Record<string, unknown>>(reply: Reply): T {
  try {
    return JSON.parse(reply.text) as T;
  } catch {
    throw new Error(`not JSON (status ${reply.status}): ${reply.text.slice(0, 200)}`);
  }
}

/** Sends raw bytes on a new connection and returns everything read until the server closes it. */
export function rawExchange(port: number, payload: string, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    }, timeoutMs);
    socket.on('connect', () => socket.write(payload));
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (err) => {
      clearTimeout(timer);
      if (chunks.length > 0) resolve(Buffer.concat(chunks).toString('latin1'));
      else reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it holds (true) or `timeoutMs` passes (false). */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 10_000, pollMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(pollMs);
  }
  return false;
}
