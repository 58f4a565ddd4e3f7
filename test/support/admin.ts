// Reading perch's admin API in tests.
import { ask, json } from './http.ts';

export interface AdminMachine {
  id: string;
  state: string;
  region: string;
  pid: number | null;
  ports: Record<string, number>;
  private_ip: string;
  healthy?: boolean;
}

export async function machines(adminOrigin: string, app: string): Promise<AdminMachine[]> {
  return json<AdminMachine[]>(await ask(`${adminOrigin}/v1/apps/${app}/machines`));
}

/** The address a machine itself listens on, to ask it directly (not through perch). */
export async function directOrigins(adminOrigin: string, app: string): Promise<Map<string, string>> {
  const origins = new Map<string, string>();
  for (const machine of await machines(adminOrigin, app)) {
    origins.set(machine.id, `http://${machine.private_ip}:${Object.values(machine.ports)[0]}`);
  }
  return origins;
}
