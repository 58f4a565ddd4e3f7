// The one error type of the request path. Each carries the Fly-style code
// that goes to the client's body and to the log, the HTTP status it answers
// with, and whether nothing reached a machine (so another one may be tried).
// Codes in Fly's list keep Fly's meaning; PU05 and the PH family are perch's own.

export const ERROR_CODES = {
  PC01: { status: 502, text: 'machine refused connection' },
  PC03: { status: 502, text: 'connection reset by machine' },
  PC05: { status: 502, text: 'connection to machine timed out' },
  PC07: { status: 502, text: 'connection retries exhausted' },
  PU02: { status: 502, text: 'request to machine could not be completed' },
  PU05: { status: 504, text: 'machine did not answer in time' },
  PR01: { status: 503, text: 'no started healthy machine' },
  PR02: { status: 503, text: 'the requested machine does not exist' },
  PR04: { status: 503, text: 'no machine became available in time' },
  PM03: { status: 503, text: 'machine did not wake in time' },
  PA01: { status: 502, text: 'request too large to replay' },
  PH01: { status: 400, text: 'malformed request' },
  PH02: { status: 404, text: 'no app serves this host' },
  PH03: { status: 431, text: 'request head too large' },
  PH04: { status: 408, text: 'request head not received in time' },
} as const satisfies Record<string, { status: number; text: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class ProxyError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** True when no byte of the request reached the machine, so another machine may take it. */
  readonly notSent: boolean;

  constructor(code: ErrorCode, detail?: string, options?: { notSent?: boolean; cause?: unknown }) {
    super(detail ?? ERROR_CODES[code].text, { cause: options?.cause });
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.notSent = options?.notSent ?? false;
  }
}

/** Why a request is aborted when the machine's response head, or the next piece of its body, took longer than `timeoutMs`. */
export function responseTimeoutError(responseStarted: boolean, timeoutMs: number): ProxyError {
  return responseStarted
    ? new ProxyError('PU02', `no response body from the machine for ${timeoutMs} ms`)
    : new ProxyError('PU05', `no response head from the machine within ${timeoutMs} ms`);
}

/** Classifies an upstream (undici) failure. `responseStarted` is whether any of the response reached perch. */
export function upstreamError(err: unknown, responseStarted: boolean): ProxyError {
  // perch's own reason for aborting the request (its response bound, response-deadlines.ts).
  if (err instanceof ProxyError) return err;
  const code = (err as { code?: string } | null)?.code;
  if (!responseStarted) {
    switch (code) {
      case 'ECONNREFUSED':
        return new ProxyError('PC01', undefined, { notSent: true, cause: err });
      case 'UND_ERR_CONNECT_TIMEOUT':
        return new ProxyError('PC05', undefined, { notSent: true, cause: err });
      case 'ECONNRESET':
      case 'UND_ERR_SOCKET':
        return new ProxyError('PC03', undefined, { cause: err });
    }
  }
  return new ProxyError('PU02', (err as Error | null)?.message, { cause: err });
}
