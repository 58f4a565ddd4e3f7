// PROXY protocol headers: exact bytes for each case (HAProxy's
// proxy-protocol.txt), and the same headers read back by an independent
// parser (proxy-protocol-js).
import t from 'tap';
import { V1BinaryProxyProtocol, V2ProxyProtocol } from 'proxy-protocol-js';
import { endpointsOf, proxyHeader, proxyHeaderV1, proxyHeaderV2, V2_SIGNATURE, writeIPv6, type ConnectionEnds } from '../../src/services/proxy-protocol.ts';

function ends(source: string | undefined, sourcePort: number | undefined, destination: string | undefined, destinationPort: number | undefined): ConnectionEnds {
  return { sourceAddress: source, sourcePort, destinationAddress: destination, destinationPort };
}

const SIG = V2_SIGNATURE.toString('hex');

const cases: { name: string; ends: ConnectionEnds; v1: string; v2: string }[] = [
  {
    name: 'IPv4 both ends',
    ends: ends('192.168.0.1', 56324, '10.0.0.2', 443),
    v1: 'PROXY TCP4 192.168.0.1 10.0.0.2 56324 443\r\n',
    v2: `${SIG}2111000c` + 'c0a80001' + '0a000002' + 'dc04' + '01bb',
  },
  {
    name: 'IPv4-mapped IPv6 on both ends is written as IPv4',
    ends: ends('::ffff:127.0.0.1', 40000, '::FFFF:127.0.0.1', 7001),
    v1: 'PROXY TCP4 127.0.0.1 127.0.0.1 40000 7001\r\n',
    v2: `${SIG}2111000c` + '7f000001' + '7f000001' + '9c40' + '1b59',
  },
  {
    name: 'IPv6 both ends',
    ends: ends('2001:db8::1', 1, '::1', 65535),
    v1: 'PROXY TCP6 2001:db8::1 ::1 1 65535\r\n',
    v2: `${SIG}21210024` + '20010db8000000000000000000000001' + '00000000000000000000000000000001' + '0001' + 'ffff',
  },
  {
    name: 'an IPv4 end beside an IPv6 one is written mapped',
    ends: ends('10.1.2.3', 1234, 'fe80::1%eth0', 80),
    v1: 'PROXY TCP6 ::ffff:10.1.2.3 fe80::1 1234 80\r\n',
    v2: `${SIG}21210024` + '00000000000000000000ffff0a010203' + 'fe800000000000000000000000000001' + '04d2' + '0050',
  },
  {
    name: 'unknown ends (socket already gone)',
    ends: ends(undefined, undefined, '127.0.0.1', 80),
    v1: 'PROXY UNKNOWN\r\n',
    v2: `${SIG}21000000`,
  },
  {
    name: 'not an address',
    ends: ends('localhost', 1, '127.0.0.1', 2),
    v1: 'PROXY UNKNOWN\r\n',
    v2: `${SIG}21000000`,
  },
  {
    name: 'port out of range',
    ends: ends('127.0.0.1', 70000, '127.0.0.1', 2),
    v1: 'PROXY UNKNOWN\r\n',
    v2: `${SIG}21000000`,
  },
];

t.test('exact header bytes', async (t) => {
  for (const c of cases) {
    t.equal(proxyHeaderV1(c.ends).toString('latin1'), c.v1, `v1: ${c.name}`);
    t.equal(proxyHeaderV2(c.ends).toString('hex'), c.v2, `v2: ${c.name}`);
    t.equal(proxyHeader(1, c.ends).toString('latin1'), c.v1, `proxyHeader(1): ${c.name}`);
    t.equal(proxyHeader(2, c.ends).toString('hex'), c.v2, `proxyHeader(2): ${c.name}`);
  }
});

t.test('v1 headers stay within the protocol bound of 107 bytes', async (t) => {
  const longest = proxyHeaderV1(ends('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 65535, 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 65535));
  t.ok(longest.length <= 107, `${longest.length} bytes`);
});

t.test('an independent parser reads what perch writes', async (t) => {
  for (const c of cases.filter((c) => !c.v1.includes('UNKNOWN'))) {
    const e = endpointsOf(c.ends)!;
    const v1 = V1BinaryProxyProtocol.parse(new Uint8Array(proxyHeaderV1(c.ends)));
    t.equal(v1.inetProtocol, e.family === 4 ? 'TCP4' : 'TCP6', `v1 family: ${c.name}`);
    t.same([v1.source.ipAddress, v1.source.port, v1.destination.ipAddress, v1.destination.port], [e.source, e.sourcePort, e.destination, e.destinationPort], `v1 ends: ${c.name}`);

    const header = proxyHeaderV2(c.ends);
    const v2 = V2ProxyProtocol.parse(new Uint8Array(header));
    t.equal(v2.command, 1, `v2 command PROXY: ${c.name}`);
    t.equal(v2.transportProtocol, 1, `v2 transport STREAM: ${c.name}`);
    t.equal(v2.addressFamilyType, e.family === 4 ? 0x10 : 0x20, `v2 family: ${c.name}`);
    const address = v2.proxyAddress as unknown as { sourcePort: number; destinationPort: number; sourceAddress: { address: number[] }; destinationAddress: { address: number[] } };
    t.equal(address.sourcePort, e.sourcePort, `v2 source port: ${c.name}`);
    t.equal(address.destinationPort, e.destinationPort, `v2 destination port: ${c.name}`);
    t.same(Buffer.from(address.sourceAddress.address), addressBytes(e.source), `v2 source address: ${c.name}`);
    t.same(Buffer.from(address.destinationAddress.address), addressBytes(e.destination), `v2 destination address: ${c.name}`);
    t.equal(v2.data?.length ?? 0, 0, `v2: nothing after the addresses: ${c.name}`);
  }
  const unknown = V2ProxyProtocol.parse(new Uint8Array(proxyHeaderV2(ends(undefined, undefined, undefined, undefined))));
  t.equal(unknown.addressFamilyType, 0, 'v2 unknown ends: AF_UNSPEC');
});

function addressBytes(address: string): Buffer {
  if (address.includes(':')) {
    const out = Buffer.alloc(16);
    writeIPv6(out, 0, address);
    return out;
  }
  return Buffer.from(address.split('.').map(Number));
}

t.test('IPv6 text to bytes', async (t) => {
  const table: [string, string][] = [
    ['::', '00000000000000000000000000000000'],
    ['::1', '00000000000000000000000000000001'],
    ['1::', '00010000000000000000000000000000'],
    ['2001:db8:0:0:1:0:0:1', '20010db8000000000001000000000001'],
    ['2001:db8::1:0:0:1', '20010db8000000000001000000000001'],
    ['fe80::abcd:1', 'fe80' + '00000000000000000000' + 'abcd' + '0001'],
    ['::ffff:1.2.3.4', '00000000000000000000ffff01020304'],
    ['64:ff9b::192.0.2.33', '0064ff9b0000000000000000c0000221'],
    ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008'],
  ];
  for (const [text, hex] of table) {
    const out = Buffer.alloc(16);
    writeIPv6(out, 0, text);
    t.equal(out.toString('hex'), hex, text);
  }
});
