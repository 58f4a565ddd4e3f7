// The steering request headers (SPEC §3.5): fly-prefer-region and
// fly-force-region are ordered comma-separated lists with aliases
// ("primary" = the app's primary region, "local"/"edge" = this edge's region,
// "any" = any region from there on); fly-prefer-instance-id and
// fly-force-instance-id name one machine.
import t from 'tap';
import { NO_STEERING, type Steering } from '../../src/routing/rank.ts';
import { hasSteering, parseSteering, type SteeringHeaders } from '../../src/routing/steering.ts';

// The app's primary region is iad; this edge runs in ord.
const PRIMARY = 'iad';
const EDGE = 'ord';

function steering(s: Partial<Steering>): Steering {
  return { ...NO_STEERING, ...s };
}

const cases: [name: string, headers: SteeringHeaders, expected: Steering][] = [
  // one region, spelling
  ['prefer one region', { preferRegion: 'lhr' }, steering({ preferRegions: ['lhr'] })],
  ['force one region', { forceRegion: 'lhr' }, steering({ forceRegions: ['lhr'] })],
  ['upper case and spaces', { preferRegion: '  LHR ' }, steering({ preferRegions: ['lhr'] })],
  ['a list keeps its order', { forceRegion: 'syd,lhr , Ams' }, steering({ forceRegions: ['syd', 'lhr', 'ams'] })],
  ['tabs around items', { preferRegion: '\tsyd\t,\tlhr' }, steering({ preferRegions: ['syd', 'lhr'] })],
  // aliases
  ['primary', { preferRegion: 'primary' }, steering({ preferRegions: [PRIMARY] })],
  ['PRIMARY in capitals', { forceRegion: ' PRIMARY ' }, steering({ forceRegions: [PRIMARY] })],
  ['local', { preferRegion: 'local' }, steering({ preferRegions: [EDGE] })],
  ['edge', { forceRegion: 'edge' }, steering({ forceRegions: [EDGE] })],
  ['aliases inside a list keep their place', { preferRegion: 'lhr,primary,Edge' }, steering({ preferRegions: ['lhr', PRIMARY, EDGE] })],
  ['any alone prefers nothing', { preferRegion: 'any' }, steering({})],
  ['any alone forces nothing', { forceRegion: 'ANY' }, steering({})],
  ['prefer: regions before any are still preferred', { preferRegion: 'lhr, syd, any' }, steering({ preferRegions: ['lhr', 'syd'] })],
  ['prefer: any first leaves no preference', { preferRegion: 'any,lhr' }, steering({})],
  ['prefer: what follows any adds nothing', { preferRegion: 'lhr,any,syd' }, steering({ preferRegions: ['lhr'] })],
  ['force: a list ending in any forces nothing, its regions are preferred', { forceRegion: 'lhr,syd,any' }, steering({ preferRegions: ['lhr', 'syd'] })],
  ['force: any first forces nothing', { forceRegion: 'any, lhr' }, steering({})],
  [
    'force ending in any with prefer-region: the forced list first, then the preferred',
    { forceRegion: 'lhr,any', preferRegion: 'syd,lhr' },
    steering({ preferRegions: ['lhr', 'syd'] }),
  ],
  // duplicates
  ['duplicates keep the first place', { preferRegion: 'lhr,syd,LHR,lhr' }, steering({ preferRegions: ['lhr', 'syd'] })],
  ['an alias and its region are one region', { forceRegion: 'ord,local,edge,iad,primary' }, steering({ forceRegions: [EDGE, PRIMARY] })],
  // empty values
  ['empty prefer-region', { preferRegion: '' }, steering({})],
  ['only commas and spaces', { forceRegion: ' , ,, ' }, steering({})],
  ['empty items are skipped', { preferRegion: ',lhr,,syd,' }, steering({ preferRegions: ['lhr', 'syd'] })],
  ['empty instance ids', { preferInstance: '', forceInstance: '   ' }, steering({})],
  // instances
  ['prefer an instance', { preferInstance: 'web-3' }, steering({ preferInstance: 'web-3' })],
  ['force an instance', { forceInstance: 'web-3' }, steering({ forceInstance: 'web-3' })],
  ['instance ids are trimmed', { forceInstance: '  148ed193b95e89 ' }, steering({ forceInstance: '148ed193b95e89' })],
  ['instance ids keep their case', { preferInstance: 'Web-3' }, steering({ preferInstance: 'Web-3' })],
  // everything at once
  [
    'all four headers',
    { preferRegion: 'syd,primary', forceRegion: 'lhr,edge', preferInstance: 'web-1', forceInstance: 'web-2' },
    { preferRegions: ['syd', PRIMARY], forceRegions: ['lhr', EDGE], preferInstance: 'web-1', forceInstance: 'web-2' },
  ],
  ['prefer and force regions together', { preferRegion: 'lhr', forceRegion: 'lhr,syd' }, steering({ preferRegions: ['lhr'], forceRegions: ['lhr', 'syd'] })],
];

for (const [name, headers, expected] of cases) {
  t.test(`parseSteering: ${name}`, async (t) => {
    t.strictSame(parseSteering(headers, PRIMARY, EDGE), expected);
  });
}

t.test('absent headers give NO_STEERING itself', async (t) => {
  t.equal(parseSteering({}, PRIMARY, EDGE), NO_STEERING);
  t.ok(Object.isFrozen(NO_STEERING));
  t.strictSame(NO_STEERING, { preferRegions: null, forceRegions: null, preferInstance: null, forceInstance: null });
});

t.test('the edge region and primary region come from the arguments', async (t) => {
  t.strictSame(parseSteering({ preferRegion: 'primary,local' }, 'fra', 'ams').preferRegions, ['fra', 'ams']);
  t.strictSame(parseSteering({ preferRegion: 'primary,local' }, 'ams', 'ams').preferRegions, ['ams']);
});

const present: [SteeringHeaders, boolean][] = [
  [{}, false],
  [{ preferRegion: '' }, true],
  [{ forceRegion: 'lhr' }, true],
  [{ preferInstance: 'x' }, true],
  [{ forceInstance: '' }, true],
];
for (const [headers, expected] of present) {
  t.test(`hasSteering ${JSON.stringify(headers)}`, async (t) => {
    t.equal(hasSteering(headers), expected);
  });
}
