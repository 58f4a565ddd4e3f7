// Building X.509 certificates: the one thing Node's crypto cannot do. Keys are
// made and stored with Node's crypto (PKCS#8 PEM); @peculiar/x509 only encodes
// and signs the certificates, over Node's webcrypto. No file I/O here.
//
// Keys are EC P-256 with ECDSA/SHA-256: a key is made in about a millisecond
// (an RSA-2048 key takes tens to hundreds), so a certificate for a new name
// costs a handshake almost nothing; every TLS 1.2/1.3 client supports it.
import 'reflect-metadata'; // @peculiar/x509's dependency injection needs the Reflect metadata API first.
import * as x509 from '@peculiar/x509';
import { createPrivateKey, createPublicKey, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import os from 'node:os';
import { CA_COMMON_NAME, generateKeyPem, type CertKeyPem } from './keys.ts';

// Keys are node:crypto's: they live in keys.ts, which workers load without this file.
export { CA_COMMON_NAME, certMatchesKey, generateKeyPem, type CertKeyPem } from './keys.ts';

const crypto = webcrypto as unknown as Crypto;
const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
/** Certificates start an hour in the past, so a client whose clock is a little behind accepts them. */
const BACKDATE_MS = 3_600_000;




/**
 * A self-signed CA certificate for `keyPem`, valid `years` from `now` (minus
 * the backdating hour). Named so a user can tell it apart in a trust store:
 * "perch local CA", with the user and machine it was made on.
 */
export async function createCaCertificate(keyPem: string, now: Date, years: number): Promise<string> {
  const { privateKey, publicKey } = await signingKeys(keyPem);
  const notAfter = new Date(now);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + years);
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serialNumber(),
      subject: caName(),
      issuer: caName(),
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter,
      signingAlgorithm: SIGNING,
      publicKey,
      signingKey: privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(publicKey, false, crypto),
      ],
    },
    crypto,
  );
  return cert.toString('pem') + '\n';
}

/**
 * A server certificate for one name (`*.` wildcards allowed) signed by `ca`:
 * SAN = the name (plus 127.0.0.1 and ::1 for "localhost"), serverAuth only,
 * valid `days` from `now` but never past the CA itself.
 */
export async function issueLeafCertificate(ca: CertKeyPem, certName: string, now: Date, days: number): Promise<CertKeyPem> {
  const caCert = new x509.X509Certificate(ca.cert);
  const caKeys = await signingKeys(ca.key);
  const keyPem = await generateKeyPem();
  const leafKeys = await signingKeys(keyPem);
  const notAfter = new Date(Math.min(now.getTime() + days * DAY_MS, caCert.notAfter.getTime()));
  const names: x509.JsonGeneralName[] = [{ type: 'dns', value: certName }];
  if (certName === 'localhost') names.push({ type: 'ip', value: '127.0.0.1' }, { type: 'ip', value: '::1' });
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serialNumber(),
      subject: [{ O: ['perch'] }, { CN: [certName] }],
      // The CA's own encoded name, so chain building matches it byte for byte.
      issuer: caCert.subjectName,
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter,
      signingAlgorithm: SIGNING,
      publicKey: leafKeys.publicKey,
      signingKey: caKeys.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
        new x509.SubjectAlternativeNameExtension(names, false),
        await x509.SubjectKeyIdentifierExtension.create(leafKeys.publicKey, false, crypto),
        await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  return { cert: cert.toString('pem') + '\n', key: keyPem };
}


/** `O=perch, OU=user@host, CN=perch local CA`; the issuer of every leaf copies it. */
function caName(): x509.JsonName {
  let user = 'user';
  try {
    user = os.userInfo().username;
  } catch {
    // No passwd entry (a container with an arbitrary uid): keep the placeholder.
  }
  return [{ O: ['perch'] }, { OU: [`${user}@${os.hostname()}`] }, { CN: [CA_COMMON_NAME] }];
}

async function signingKeys(keyPem: string): Promise<{ privateKey: CryptoKey; publicKey: CryptoKey }> {
  const keyObject: KeyObject = createPrivateKey(keyPem);
  if (keyObject.asymmetricKeyType !== 'ec' || keyObject.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error(`expected an EC P-256 private key, found ${keyObject.asymmetricKeyType ?? 'unknown'} ${keyObject.asymmetricKeyDetails?.namedCurve ?? ''}`.trim());
  }
  const privateKey = keyObject.toCryptoKey(EC_KEY, false, ['sign']) as unknown as CryptoKey;
  const publicKey = createPublicKey(keyObject).toCryptoKey(EC_KEY, true, ['verify']) as unknown as CryptoKey;
  return { privateKey, publicKey };
}

/** 128 random bits, positive as DER wants, as hex. */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return bytes.toString('hex');
}
