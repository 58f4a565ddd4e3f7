// Keys and the checks that need only node:crypto. Kept apart from x509.ts,
// which loads @peculiar/x509 (about 10 MB of heap): a worker imports that
// only when it has a certificate to make.
import { createPrivateKey, generateKeyPair, X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';

export const CA_COMMON_NAME = 'perch local CA';

/** A certificate and its private key, both PEM. */
export interface CertKeyPem {
  cert: string;
  key: string;
}

const generateKeyPairAsync = promisify(generateKeyPair);

/** A new EC P-256 private key, PKCS#8 PEM. */
export async function generateKeyPem(): Promise<string> {
  const { privateKey } = await generateKeyPairAsync('ec', { namedCurve: 'P-256' });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
}

/** Whether a certificate's public key is the public half of a private key. */
export function certMatchesKey(certPem: string, keyPem: string): boolean {
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}
