// undici's Pool on its own (see src/proxy/upstreams.ts for why not the
// package's entry point). The class is the one the entry point exports.
declare module 'undici/lib/dispatcher/pool.js' {
  import { Pool } from 'undici';
  export default Pool;
}
