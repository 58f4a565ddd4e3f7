// Before the workers start, the primary makes the certificates the local CA
// will be asked for (every hostname of the apps, and the default one), so
// the workers find them on disk and never load the certificate builder.
import type { PerchConfig } from '../config/model.ts';
import type { Logger } from '../log/logger.ts';
import { CertStore } from './cert-store.ts';

export async function prepareCertificates(config: PerchConfig, log: Logger): Promise<void> {
  const tlsPorts = config.apps.some((app) => app.services.some((service) => service.ports.some((port) => port.handlers.includes('tls'))));
  if (config.https.listen.length === 0 && !tlsPorts) return;
  const store = await CertStore.create({ https: config.https, apps: config.apps, log });
  try {
    const names = new Set(config.apps.flatMap((app) => app.hostnames));
    await Promise.all([...names].map((name) => store.secureContextFor(name).catch(() => null)));
    await store.secureContextFor(undefined).catch(() => null);
  } finally {
    store.close();
  }
}
