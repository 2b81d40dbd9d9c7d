// Hostile values for generated requests: strings a database, a command line or a parser may
// choke on, numbers at and past every integer width, wrong types, deep and huge documents.
import { Rng } from './rng.ts';

/** JSON text spliced into a document as is: numbers JSON.stringify cannot write, deep nesting. */
export class Raw {
  constructor(readonly text: string) {}
}

/** JSON.stringify, with Raw values written verbatim. */
export function toJson(value: unknown): string {
  const raws: string[] = [];
  const text = JSON.stringify(value, (_k, v: unknown) => {
    if (v instanceof Raw) {
      raws.push(v.text);
      return `@@raw${raws.length - 1}@@`;
    }
    return v;
  });
  if (text === undefined) return 'null';
  return raws.length ? text.replace(/"@@raw(\d+)@@"/g, (_m, i: string) => raws[Number(i)]) : text;
}

const nested = (open: string, close: string, depth: number, inner = '') => open.repeat(depth) + inner + close.repeat(depth);

export const LONG = {
  s256: 'x'.repeat(256),
  s300: 'a'.repeat(300),
  s1000: 'b'.repeat(1000),
  s70k: 'c'.repeat(70_000),
  /** 255 characters, 510 bytes in UTF-8. */
  wide255: 'é'.repeat(255),
  /** 128 code points, 256 UTF-16 units. */
  emoji128: '😀'.repeat(128),
};

/** Strings that are hostile wherever a string goes. */
export const HOSTILE_STRINGS: readonly string[] = [
  '', ' ', '\t', 'a\u0000b', '\u0000', 'nul\u0000', '%00', 'a%00b', 'ctl\u0001\u0007\u0008\u001b[31m', 'cr\rlf\n', 'line\nbreak', '\u007f', '\u0085',
  '\u2028\u2029', '\ud800', 'a\udfffb', '\udc00\ud800', '\ufeffbom', '\u202eevil', 'e\u0301\u0301\u0301', '😀', 'ß', '\uffff', '\ufffd',
  LONG.s256, LONG.s300, LONG.s1000, LONG.s70k, LONG.wide255, LONG.emoji128, 'ü'.repeat(256),
  '2147483648', '-2147483649', '-1', '0', '1e308', '-1e308', '9007199254740993', '18446744073709551616', 'NaN', 'Infinity', '-Infinity',
  '-0', '0x10', '1_000', '١٢٣', ' 1 ', '+1', '1.5', '1e3', '0001', '99999999999999999999999999999',
  '--help', '-v', '--privileged', '-', '--', '--version', '-H', '--host=tcp://127.0.0.1:1', '-it', '--rm', '-e A=b', '--mount=type=bind,src=/,dst=/h',
  '../../etc/passwd', '..', '.', '/etc/passwd', '..\\..\\windows\\win.ini', 'a/../../b', '%2e%2e%2f', '....//', '/', '//', '~', '~root',
  "' OR 1=1 --", '"; DROP TABLE cluster; --', "'", '"', '\\', '\\\\', '`id`', '$(id)', '${HOME}', '${jndi:ldap://127.0.0.1/x}', '{{7*7}}',
  '<script>alert(1)</script>', '%s%s%n', '%n', 'null', 'undefined', 'true', 'None', 'True', '[]', '{}', '__proto__', 'constructor', 'prototype',
  'hasOwnProperty', 'toString', 'valueOf', '*', '?', '%', '_', '%25', '%ZZ', '%C0%AE', 'a b', 'a,b', 'a;b', 'a&b=c', 'a=b', 'a#b', 'a?b',
  'latest', 'admin', 'default-worker', 'default-master', 'detail', 'Cluster', 'fake-image', 'm1.small', 'public',
];

/** Numbers, as JSON: past int32, past 2^53, floats, exponents, negative zero, overflow to Infinity. */
export const HOSTILE_NUMBERS: readonly unknown[] = [
  0, -1, 1, 2147483647, 2147483648, -2147483648, -2147483649, 4294967296, 9007199254740991, new Raw('9007199254740993'),
  new Raw('18446744073709551616'), new Raw('123456789012345678901234567890'), 1e308, -1e308, new Raw('1e400'), new Raw('-1e400'),
  1.5, -0.5, new Raw('-0'), new Raw('1E5'), new Raw('1e-400'), 0.1, 65535, 65536, 1024, 1023, 3600, 3601,
];

export const WRONG_TYPES: readonly unknown[] = [
  null, true, false, [], {}, [[]], [null], ['a'], [1, 'a'], { a: 1 }, { a: {} }, { '': '' }, { __proto__x: 1 }, new Raw('{"__proto__": {"x": 1}}'),
  new Raw('{"constructor": {"prototype": {"x": 1}}}'), new Raw('{"a": 1, "a": 2}'),
];

export function deepArray(depth: number): Raw {
  return new Raw(nested('[', ']', depth));
}

export function deepObject(depth: number): Raw {
  return new Raw(nested('{"a":', '}', depth, '1'));
}

/** A value of any of the hostile families. */
export function hostileValue(rng: Rng): unknown {
  return rng.weighted<() => unknown>([
    [6, () => rng.pick(HOSTILE_STRINGS)],
    [3, () => rng.pick(HOSTILE_NUMBERS)],
    [2, () => rng.pick(WRONG_TYPES)],
    [1, () => (rng.chance(0.5) ? deepArray(rng.pick([100, 1000, 5000])) : deepObject(rng.pick([100, 1000, 5000])))],
  ])();
}

/** A hostile string, or a hostile number written as a string. */
export function hostileString(rng: Rng): string {
  return rng.chance(0.85) ? rng.pick(HOSTILE_STRINGS) : toJson(rng.pick(HOSTILE_NUMBERS));
}

/** Labels (or any string map) that are hostile as a whole or in one entry. */
export function hostileLabels(rng: Rng): unknown {
  return rng.weighted<() => unknown>([
    [3, () => ({ k: 'x'.repeat(rng.pick([255, 256, 65_535, 65_536, 100_000])) })],
    [2, () => ({ [hostileString(rng)]: hostileString(rng) })],
    [1, () => ({ ['k'.repeat(rng.pick([255, 256, 1000]))]: 'v' })],
    [1, () => Object.fromEntries(Array.from({ length: rng.pick([100, 1000, 3000]) }, (_, i) => [`key${i}`, `value${i}`]))],
    [1, () => ({ a: hostileValue(rng) })],
    [1, () => ({ '': '' })],
    [1, () => hostileValue(rng)],
    [1, () => ({ swarm_strategy: hostileString(rng) })],
    [1, () => ({ auto_healing_enabled: hostileString(rng), kube_tag: hostileString(rng) })],
  ])();
}

/** Python dict literals as clients send labels in a JSON-Patch (hostile, unbalanced, deep, huge). */
export function hostileLiteral(rng: Rng): string {
  return rng.pick([
    "{'a': 'b'}", `{'a': '${'x'.repeat(100_000)}'}`, `{'${'k'.repeat(300)}': 'v'}`, "{'a': '\u0000'}", "{'a': '\\x00'}",
    nested('[', ']', 1000), nested('[', ']', 50_000), nested('{', '}', 1000), nested("{'a': ", '}', 5000, "'b'"), "{'a': 'b',}", "{'a': [1]}",
    "{'a': 1e400}", "{'a': 2147483648}", "{'a': True, 'b': None}", "{'a': b'bytes'}", "{'a': u'unicode'}", "{'a': 0x10}", "{'a': 'b' 'c'}",
    "{'a': '\\ud800'}", "{'a': '\\N{NULL}'}", "{1: 2}", "{(1, 2): 3}", "{'a': {'b': {'c': 'd'}}}", "{'a': ''' x '''}", "{'a': \"b\"}",
    "__import__('os').system('id')", "{'a': 'b'}" + ' '.repeat(1000), "{'--help': '-v'}", "{'a': '" + "\\'".repeat(1000) + "'}",
  ]);
}

/** JSON-Pointer paths a JSON-Patch may name, hostile ones included. */
export function hostilePointer(rng: Rng, known: readonly string[]): unknown {
  return rng.weighted<() => unknown>([
    [4, () => rng.pick(known)],
    [2, () => `${rng.pick(known)}/${rng.pick(['-', '0', '~0', '~1', '..', 'x'.repeat(300), '\u0000', '__proto__', 'constructor', '9999999999'])}`],
    [2, () => `/${hostileString(rng)}`],
    [1, () => rng.pick(['', '/', '//', '/~', '/~2', '/a~', '/-', '/0', '/labels/../../x', '/__proto__/polluted', '/constructor/prototype/x'])],
    [1, () => `/${'a/'.repeat(rng.pick([100, 1000]))}b`],
    [1, () => hostileValue(rng)],
  ])();
}
