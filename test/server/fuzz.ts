import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import sharp from 'sharp';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { seededRandom } from '../../src/evaluation/seeded-random.js';
import type { Browser, TestServer } from './harness.js';

/**
 * Hostile input, generated from a seed: broken and polyglot images, wrong content types, oversized and deeply
 * nested JSON, injection strings in every text field of every route, invalid FHIR. Each case is sent to a real
 * server and its answer judged: never a 5xx but 503 ENGINE_BUSY, always the documented error shape without a
 * stack trace, the stored records unchanged when the request was refused, and an accepted patient read back
 * exactly as sent. `npm test` runs a few hundred cases (test/server/fuzz.test.ts); bench/fuzz.ts ten thousand.
 */

type Rng = () => number;
const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)] as T;

/** Strings that break parsers, queries, pages and terminals when something trusts them. */
const INJECTIONS = [
  "' OR '1'='1",
  "'; DROP TABLE patients; --",
  '" OR ""="',
  '1; SELECT * FROM users',
  "Robert'); DELETE FROM audit_events;--",
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  'javascript:alert(1)',
  '../../../../etc/passwd',
  '..\\..\\..\\windows\\win.ini',
  '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
  'a\u0000b',
  '\u0000',
  '\u202Eevil\u202Dtxt.exe',
  '\u200B\u200C\u200D\uFEFF',
  'Ｓｃｒｉｐｔ',
  'ǅemal Ǆ ǆ',
  'Zalgo z̸̢̛͉̗̮̗̩̘̙̗͍̲̹̗̝͚̬̤͓̮̥͎ã̵̖̙͓̫̟̤̝̝̩̱̫̯͚͓̖͔̮̯̩̤̳̩',
  '👨‍👩‍👧‍👦🏳️‍🌈',
  '\uD800',
  '${jndi:ldap://x/a}',
  '{{7*7}}',
  '%s%s%s%n',
  '\r\nSet-Cookie: medface_session=x',
  '__proto__',
  'constructor',
  'null',
  'undefined',
  '-1',
  '1e309',
  ' ',
  '',
  'x'.repeat(300),
  'é'.repeat(5000),
  '名'.repeat(40_000),
];

export interface FuzzContext {
  server: TestServer;
  /** A patient the cases may aim at (reads, updates, consent, records). */
  patientId: string;
  /** Another patient, whose consent the consent cases grant and withdraw (the first one keeps its consent, so enrolments reach the face engine). */
  consentPatientId: string;
  frontDesk: Browser;
  clinician: Browser;
  admin: Browser;
  emergency: Browser;
  /** An API key with the verify and identify scopes. */
  apiKey: string;
  images: HostileImages;
  /** Base URL of the same server listening on loopback, for the cases sent over real HTTP. */
  baseUrl: string;
}

export interface FuzzCase {
  family: string;
  as: 'frontDesk' | 'clinician' | 'admin' | 'emergency' | 'apiKey' | 'browser' | 'none';
  request: InjectOptions & { method: 'GET' | 'POST' | 'PUT' | 'DELETE' };
  /** A Patient sent whole: when accepted, it must read back with these names and identifiers. */
  patient?: Record<string, unknown>;
  /** Send over a real socket instead of inject. */
  http?: boolean;
}

/** A few image-shaped byte strings made once: valid, broken, polyglot and bombs. */
export interface HostileImages {
  all: Array<{ name: string; bytes: Buffer }>;
}

function crc32(bytes: Buffer): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A PNG whose header claims width × height, with one tiny compressed row: a decompression bomb's header. */
function pngClaiming(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const idat = Buffer.from('789c636000000002000156', 'hex');
  return Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), pngChunk('IHDR', ihdr), pngChunk('IDAT', idat), pngChunk('IEND', Buffer.alloc(0))]);
}

function gifClaiming(width: number, height: number): Buffer {
  const header = Buffer.from('GIF89a', 'latin1');
  const screen = Buffer.alloc(7);
  screen.writeUInt16LE(width, 0);
  screen.writeUInt16LE(height, 2);
  const image = Buffer.alloc(10);
  image[0] = 0x2c;
  image.writeUInt16LE(width, 5);
  image.writeUInt16LE(height, 7);
  return Buffer.concat([header, screen, image, Buffer.from([0x02, 0x02, 0x44, 0x01, 0x00, 0x3b])]);
}

function tiffClaiming(width: number, height: number): Buffer {
  const entries = [
    [256, 4, 1, width],
    [257, 4, 1, height],
    [258, 3, 1, 8],
    [259, 3, 1, 1],
    [262, 3, 1, 1],
    [273, 4, 1, 8],
    [279, 4, 1, 1],
  ];
  const ifd = Buffer.alloc(2 + entries.length * 12 + 4);
  ifd.writeUInt16LE(entries.length, 0);
  entries.forEach(([tag, type, count, value], i) => {
    ifd.writeUInt16LE(tag!, 2 + i * 12);
    ifd.writeUInt16LE(type!, 4 + i * 12);
    ifd.writeUInt32LE(count!, 6 + i * 12);
    ifd.writeUInt32LE(value!, 10 + i * 12);
  });
  return Buffer.concat([Buffer.from('49492a0010000000', 'hex'), Buffer.alloc(8), ifd]);
}

export async function hostileImages(): Promise<HostileImages> {
  const noise = Buffer.alloc(64 * 48 * 3);
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
  const jpeg = await sharp(noise, { raw: { width: 64, height: 48, channels: 3 } })
    .jpeg()
    .toBuffer();
  const png = await sharp(noise, { raw: { width: 64, height: 48, channels: 3 } })
    .png()
    .toBuffer();
  const webp = await sharp(noise, { raw: { width: 64, height: 48, channels: 3 } })
    .webp()
    .toBuffer();
  const zip = Buffer.concat([Buffer.from('504b0304', 'hex'), Buffer.alloc(26), Buffer.from('evil.sh#!/bin/sh\nrm -rf /\n'), Buffer.from('504b0506', 'hex'), Buffer.alloc(18)]);
  const html = Buffer.from('<html><body><script>fetch("/api/v1/users")</script></body></html>');
  return {
    all: [
      { name: 'noise jpeg', bytes: jpeg },
      { name: 'noise png', bytes: png },
      { name: 'noise webp', bytes: webp },
      { name: 'truncated jpeg', bytes: jpeg.subarray(0, jpeg.length >> 1) },
      { name: 'jpeg header only', bytes: jpeg.subarray(0, 20) },
      { name: 'corrupt jpeg', bytes: Buffer.from(jpeg.map((b, i) => (i > 200 && i % 7 === 0 ? b ^ 0xff : b))) },
      { name: 'jpeg + zip', bytes: Buffer.concat([jpeg, zip]) },
      { name: 'jpeg + html', bytes: Buffer.concat([jpeg, html]) },
      { name: 'html', bytes: html },
      { name: 'zip', bytes: zip },
      { name: 'png claiming 100000x100000', bytes: pngClaiming(100_000, 100_000) },
      { name: 'png claiming 2^31x1', bytes: pngClaiming(0x7fffffff, 1) },
      { name: 'png claiming 0x0', bytes: pngClaiming(0, 0) },
      { name: 'gif claiming 65535x65535', bytes: gifClaiming(65_535, 65_535) },
      { name: 'tiff claiming 4e9 pixels', bytes: tiffClaiming(65_536, 65_536) },
      {
        name: 'svg billion laughs',
        bytes: Buffer.from(
          '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><svg xmlns="http://www.w3.org/2000/svg" width="99999" height="99999"><text>&lol3;</text></svg>',
        ),
      },
      { name: 'svg with external image', bytes: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><image href="file:///etc/passwd"/></svg>') },
      { name: 'pdf', bytes: Buffer.from('%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF') },
      { name: 'one byte', bytes: Buffer.from([0xff]) },
      { name: 'random bytes', bytes: Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) & 255)) },
    ],
  };
}

/** A string from the injection list, or a mix of them, or a random one. */
function hostileString(rng: Rng): string {
  const r = rng();
  if (r < 0.7) return pick(rng, INJECTIONS);
  if (r < 0.85) return `${pick(rng, INJECTIONS)}${pick(rng, INJECTIONS)}`;
  return Array.from({ length: 1 + Math.floor(rng() * 40) }, () => String.fromCodePoint(Math.floor(rng() * 0x2ffff))).join('');
}

/** Percent-encoding that survives lone surrogates (encodeURIComponent throws on them): they go as invalid UTF-8. */
const percent = (text: string): string =>
  text
    .split(/(\p{Cs})/u)
    .map((part, i) => (i % 2 ? '%ED%A0%80' : encodeURIComponent(part)))
    .join('');

const DEEP = (depth: number, leaf: string) => `${'{"a":'.repeat(depth)}${leaf}${'}'.repeat(depth)}`;
const DEEP_ARRAY = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

const TERMINOLOGY = 'http://terminology.hl7.org/CodeSystem';

/** A well-formed UUID from the generator: a challenge id no server has issued. */
function uuidOf(rng: Rng): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(rng() * 16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
}

/** Generates case number `n` of a run: the same seed gives the same cases. */
export function generateCase(rng: Rng, ctx: Pick<FuzzContext, 'patientId' | 'consentPatientId' | 'images'>): FuzzCase {
  const s = () => hostileString(rng);
  const id = ctx.patientId;
  const family = pick(rng, [
    'patient',
    'patient-update',
    'search',
    'path',
    'consent',
    'record',
    'note',
    'sign-in',
    'user',
    'break-glass',
    'image',
    'image',
    'image-multipart',
    'base64',
    'transport',
    'transport',
    'fhir-invalid',
  ] as const);
  switch (family) {
    case 'patient':
    case 'patient-update': {
      const patient: Record<string, unknown> = {
        resourceType: 'Patient',
        name: [{ family: s(), given: [s(), s()], ...(rng() < 0.3 && { text: s() }), ...(rng() < 0.2 && { prefix: [s()] }) }],
        ...(rng() < 0.7 && { birthDate: rng() < 0.8 ? '1970-01-01' : s() }),
        ...(rng() < 0.5 && { identifier: [{ system: rng() < 0.5 ? 'urn:test:mrn' : s(), value: s() }] }),
        ...(rng() < 0.3 && { gender: rng() < 0.5 ? 'female' : s() }),
        ...(rng() < 0.3 && { telecom: [{ system: 'phone', value: s() }] }),
        ...(rng() < 0.3 && { address: [{ line: [s()], city: s(), postalCode: s() }] }),
        ...(rng() < 0.1 && { [s()]: s() }),
      };
      const update = family === 'patient-update';
      return {
        family,
        as: 'frontDesk',
        request: { method: update ? 'PUT' : 'POST', url: update ? `/api/v1/patients/${id}` : '/api/v1/patients', payload: patient },
        ...(!update && { patient }),
      };
    }
    case 'search': {
      const fhir = rng() < 0.5;
      const key = pick(rng, fhir ? ['name', 'family', 'given', 'birthdate', 'identifier', 'gender', '_id', 'patient', s()] : ['name', 'birthDate', 'identifier', 'gender', 'limit', s()]);
      const url = `${fhir ? pick(rng, ['/fhir/Patient', '/fhir/Encounter', '/fhir/Consent', '/fhir/Observation', '/fhir/AuditEvent']) : '/api/v1/patients'}?${percent(key)}=${percent(s())}`;
      return { family, as: fhir && url.startsWith('/fhir/AuditEvent') ? 'admin' : 'frontDesk', request: { method: 'GET', url } };
    }
    case 'path': {
      const segment = rng() < 0.5 ? percent(s()) : pick(rng, ['..%2f..%2fetc%2fpasswd', '%00', '..', '.', '%2e%2e', 'a%00b', '%ff%fe', '%E0%A4%A', '%', '%%32%65']);
      const url = pick(rng, [
        `/api/v1/patients/${segment}`,
        `/api/v1/patients/${segment}/chart`,
        `/api/v1/patients/${segment}/consents`,
        `/fhir/Patient/${segment}`,
        `/fhir/Encounter/${segment}`,
        `/api/v1/records/${segment}/${id}`,
        `/api/v1/telemedicine/checks/${segment}`,
        `/${segment}`,
        `/api/v1/${segment}`,
      ]);
      const put = url.startsWith('/api/v1/records/');
      return { family, as: put ? 'clinician' : 'frontDesk', request: { method: put ? 'PUT' : 'GET', url, ...(put && { payload: { resourceType: 'Encounter' } }) } };
    }
    case 'consent':
      return {
        family,
        as: 'frontDesk',
        request: { method: rng() < 0.8 ? 'POST' : 'DELETE', url: `/api/v1/patients/${ctx.consentPatientId}/consent`, payload: rng() < 0.8 ? { notice: s() } : { notice: s(), [s()]: s() } },
      };
    case 'record': {
      const subject = { reference: rng() < 0.8 ? `Patient/${id}` : s() };
      const resource = pick(rng, [
        {
          resourceType: 'Encounter',
          status: rng() < 0.5 ? 'arrived' : s(),
          class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: s() },
          subject,
          reasonCode: [{ text: s() }],
        },
        {
          resourceType: 'Condition',
          clinicalStatus: { coding: [{ system: `${TERMINOLOGY}/condition-clinical`, code: rng() < 0.7 ? 'active' : s() }] },
          verificationStatus: { coding: [{ system: `${TERMINOLOGY}/condition-ver-status`, code: 'confirmed' }] },
          code: { text: s(), coding: [{ system: s(), code: s(), display: s() }] },
          subject,
          note: [{ text: s() }],
        },
        { resourceType: 'Observation', status: 'final', code: { text: s() }, subject, valueString: s(), ...(rng() < 0.3 && { valueQuantity: { value: s() } }) },
        { resourceType: 'AllergyIntolerance', patient: subject, code: { text: s() }, reaction: [{ manifestation: [{ text: s() }], description: s() }] },
        { resourceType: 'MedicationStatement', status: 'active', subject, medicationCodeableConcept: { text: s() }, dosage: [{ text: s() }] },
      ]);
      return { family, as: 'clinician', request: { method: 'POST', url: '/api/v1/records', payload: resource } };
    }
    case 'note': {
      const text = s();
      const data = rng() < 0.7 ? Buffer.from(text).toString('base64') : s();
      const resource = {
        resourceType: 'DocumentReference',
        status: rng() < 0.8 ? 'current' : s(),
        subject: { reference: `Patient/${id}` },
        description: s(),
        content: [{ attachment: { contentType: rng() < 0.8 ? 'text/plain; charset=utf-8' : pick(rng, ['text/html', 'application/x-sh', s()]), data, title: s() } }],
      };
      return { family, as: 'clinician', request: { method: 'POST', url: '/api/v1/records', payload: resource } };
    }
    case 'sign-in':
      return {
        family,
        as: 'browser',
        request: {
          method: 'POST',
          url: '/api/v1/auth/sign-in',
          payload: rng() < 0.8 ? { username: s(), password: s(), code: s().slice(0, 16) } : { username: s(), password: s(), code: s(), newPassword: s() },
        },
      };
    case 'user':
      return {
        family,
        as: 'admin',
        request: { method: 'POST', url: '/api/v1/users', payload: { username: s(), roles: rng() < 0.7 ? ['clinician'] : [s()], ...(rng() < 0.5 && { displayName: s() }) } },
      };
    case 'break-glass':
      return {
        family,
        as: 'emergency',
        request: { method: 'POST', url: '/api/v1/break-glass', payload: { patientId: rng() < 0.3 ? id : s(), reason: s(), ...(rng() < 0.3 && { minutes: pick(rng, [0, -1, 1e9, 0.5, s()]) }) } },
      };
    case 'image':
    case 'image-multipart': {
      const image = pick(rng, ctx.images.all);
      const route = pick(rng, [
        { url: `/api/v1/patients/${id}/verify`, field: 'image', list: false, as: 'apiKey' as const, extra: {} },
        { url: '/api/v1/identify', field: 'image', list: false, as: 'apiKey' as const, extra: rng() < 0.3 ? { top: pick(rng, [1, 0, 21, -5]) } : {} },
        { url: `/api/v1/patients/${id}/enrol`, field: 'images', list: true, as: 'frontDesk' as const, extra: {} },
        // the liveness routes take frames answering a challenge; an unknown challenge id is refused like any other
        { url: '/api/v1/check-in', field: 'frames', list: true, as: 'frontDesk' as const, extra: { birthDate: rng() < 0.5 ? '1970-01-01' : s(), challengeId: uuidOf(rng) }, frames: true },
        { url: '/api/v1/auth/patient-sign-in', field: 'frames', list: true, as: 'browser' as const, extra: { pin: '12345678', challengeId: uuidOf(rng) }, frames: true },
      ]);
      if (family === 'image') {
        const encoded = rng() < 0.2 ? `data:image/${pick(rng, ['jpeg', 'svg+xml', 'html'])};base64,${image.bytes.toString('base64')}` : image.bytes.toString('base64');
        const value = 'frames' in route ? [{ image: encoded, at: pick(rng, [0, 40, -1, 1e12]) }] : route.list ? [encoded] : encoded;
        return { family: `image ${image.name}`, as: route.as, request: { method: 'POST', url: route.url, payload: { ...route.extra, [route.field]: value } } };
      }
      const boundary = `fuzz${Math.floor(rng() * 1e9)}`;
      const type = pick(rng, ['image/jpeg', 'image/svg+xml', 'text/html', 'application/zip', s()]);
      const parts = [
        Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${rng() < 0.9 ? route.field : s()}"; filename="${rng() < 0.5 ? 'a.jpg' : s()}"\r\nContent-Type: ${type}\r\n\r\n`),
        image.bytes,
        Buffer.from('\r\n'),
        ...Object.entries({ ...route.extra, ...('frames' in route && { at: pick(rng, ['0', '0,40', '-1', s()]) }) }).map(([k, v]) =>
          Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${String(v)}\r\n`),
        ),
        ...(rng() < 0.1 ? [Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="embedding"\r\n\r\n[0.1,0.2]\r\n`)] : []),
        Buffer.from(rng() < 0.9 ? `--${boundary}--\r\n` : `--${boundary}`),
      ];
      return {
        family: `multipart ${image.name}`,
        as: route.as,
        request: { method: 'POST', url: route.url, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, payload: Buffer.concat(parts) },
        http: rng() < 0.3,
      };
    }
    case 'base64': {
      const garbage = pick(rng, [
        '!!!!',
        '====',
        'A',
        'AB=C',
        '////',
        `data:text/html;base64,${Buffer.from('<script>').toString('base64')}`,
        'data:image/jpeg;base64,',
        '\u0000\u0000',
        s(),
        'QUJD\nREVG',
        'QUJD REVG',
        '%%%%',
      ]);
      return { family, as: 'apiKey', request: { method: 'POST', url: '/api/v1/identify', payload: { image: garbage } } };
    }
    case 'transport': {
      const kind = pick(rng, ['content-type', 'malformed', 'deep-object', 'deep-array', 'oversized', 'proto', 'duplicate-keys', 'number', 'charset', 'empty'] as const);
      const url = pick(rng, ['/api/v1/patients', '/api/v1/records', `/api/v1/patients/${id}/consent`, '/api/v1/identify', '/api/v1/auth/sign-in', '/api/v1/break-glass']);
      const as = url === '/api/v1/records' ? 'clinician' : url === '/api/v1/identify' ? 'apiKey' : url === '/api/v1/break-glass' ? 'emergency' : url.includes('sign-in') ? 'browser' : 'frontDesk';
      const json = { 'content-type': 'application/json' };
      const bodies: Record<typeof kind, { headers: Record<string, string>; payload: string | Buffer }> = {
        'content-type': {
          headers: {
            'content-type': pick(rng, [
              'text/plain',
              'application/xml',
              'application/x-www-form-urlencoded',
              'multipart/form-data',
              'image/jpeg',
              'application/json; charset=utf-7',
              '',
              s().replace(/[^\x20-\x7e]/g, ''),
            ]),
          },
          payload: '{"resourceType":"Patient"}',
        },
        malformed: { headers: json, payload: pick(rng, ['{', '{"a":}', '[1,2', '{"resourceType":"Patient",}', 'nul', '\u0000', "{'a':1}", '{"a":"\\uD800"}', '{"a":1}{"b":2}']) },
        'deep-object': { headers: json, payload: DEEP(pick(rng, [100, 10_000, 100_000]), '"x"') },
        'deep-array': { headers: json, payload: `{"resourceType":"Patient","name":${DEEP_ARRAY(pick(rng, [100, 10_000, 200_000]))}}` },
        oversized: { headers: json, payload: `{"resourceType":"Patient","name":[{"family":"${'A'.repeat(pick(rng, [1024 * 1024 + 1, 2 * 1024 * 1024]))}"}]}` },
        proto: {
          headers: json,
          payload: pick(rng, [
            '{"__proto__":{"roles":["admin"]},"resourceType":"Patient"}',
            '{"constructor":{"prototype":{"admin":true}}}',
            '{"resourceType":"Patient","name":[{"__proto__":{"family":"x"}}]}',
          ]),
        },
        'duplicate-keys': { headers: json, payload: '{"resourceType":"Patient","resourceType":"Encounter","name":[{"family":"A"}]}' },
        number: { headers: json, payload: pick(rng, ['1e999999', '-0', '123456789012345678901234567890', '[]', '"string"', 'true', 'null']) },
        charset: { headers: { 'content-type': 'application/json; charset=latin1' }, payload: Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]) },
        empty: { headers: json, payload: '' },
      };
      return { family: `transport ${kind}`, as, request: { method: 'POST', url, ...bodies[kind] }, http: kind !== 'oversized' && rng() < 0.2 };
    }
    case 'fhir-invalid': {
      const resource = pick(rng, [
        { resourceType: 'Patient', name: 'not a list' },
        { resourceType: 'Patient', name: [{ family: 42 }] },
        { resourceType: 'Patient', birthDate: '2024-13-45' },
        { resourceType: 'Patient', id: s(), meta: { versionId: s() } },
        { resourceType: 'Patient', contained: [{ resourceType: 'Patient' }] },
        { resourceType: 'Patient', extension: [{ url: s(), valueString: s() }] },
        { resourceType: 'Encounter' },
        { resourceType: s() },
        {},
        [],
        { resourceType: 'Bundle', entry: [{ resource: { resourceType: 'Patient' } }] },
        { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${id}` }, valueQuantity: { value: 'NaN' }, valueString: 'both' },
        { resourceType: 'Condition', subject: { reference: `Patient/${id}` }, clinicalStatus: { coding: [{ code: 'active' }] }, verificationStatus: { coding: [{ code: 'entered-in-error' }] } },
        { resourceType: 'DocumentReference', status: 'current', subject: { reference: `Patient/${id}` }, content: [{ attachment: { contentType: 'text/plain', data: 'A'.repeat(200_000) } }] },
      ]);
      const patient = !Array.isArray(resource) && (resource as { resourceType?: unknown }).resourceType === 'Patient';
      return { family, as: patient ? 'frontDesk' : 'clinician', request: { method: 'POST', url: patient ? '/api/v1/patients' : '/api/v1/records', payload: resource as Record<string, unknown> } };
    }
  }
}

/** Tables whose rows are records; audit entries, sessions, throttles and challenges change on refusals by design. */
const RECORD_TABLES = [
  'patients',
  'patient_identifiers',
  'patient_name_tokens',
  'consents',
  'templates',
  'photos',
  'clinical_resources',
  'patient_links',
  'break_glass_grants',
  'users',
  'credentials',
  'totp_secrets',
  'api_clients',
  'account_requests',
  'staff_templates',
  'key_metadata',
];

/** A hash of every record table's rows, read straight from the SQLite file. */
export function storeFingerprint(dataDir: string): string {
  const db = new Database(path.join(dataDir, 'medface.db'), { readonly: true, fileMustExist: true });
  try {
    const existing = new Set((db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map((r) => r.name));
    const hash = createHash('sha256');
    for (const table of RECORD_TABLES.filter((t) => existing.has(t))) {
      hash.update(`${table}\n`);
      for (const row of db.prepare(`SELECT * FROM ${table} ORDER BY rowid`).iterate()) {
        hash.update(JSON.stringify(row, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('base64') : typeof v === 'bigint' ? String(v) : v)));
      }
    }
    return hash.digest('hex');
  } finally {
    db.close();
  }
}

export interface Finding {
  n: number;
  family: string;
  problem: string;
  status: number;
  request: string;
  body: string;
}

export interface FuzzResult {
  seed: number;
  cases: number;
  byStatus: Record<string, number>;
  byCode: Record<string, number>;
  accepted: number;
  overHttp: number;
  findings: Finding[];
}

const STACK = /\bat .+\.(ts|js|mjs|cjs):\d+|node_modules|\/src\/|Error: .*\n\s+at /;

function headersFor(ctx: FuzzContext, as: FuzzCase['as'], browser: Browser): Record<string, string> {
  switch (as) {
    case 'apiKey':
      return { authorization: `Bearer ${ctx.apiKey}` };
    case 'none':
      return {};
    case 'browser':
      return { cookie: browser.cookie, 'x-csrf-token': browser.csrf };
    default:
      return { cookie: ctx[as].cookie, 'x-csrf-token': ctx[as].csrf };
  }
}

interface Answer {
  status: number;
  headers: Record<string, unknown>;
  body: string;
}

/** The same request over a real socket (the raw bytes, so malformed bodies go as they are). */
async function overHttp(baseUrl: string, request: FuzzCase['request'], headers: Record<string, string>): Promise<Answer> {
  const payload = request.payload === undefined ? undefined : Buffer.isBuffer(request.payload) || typeof request.payload === 'string' ? request.payload : JSON.stringify(request.payload);
  const all = {
    ...(payload !== undefined && typeof request.payload === 'object' && !Buffer.isBuffer(request.payload) && { 'content-type': 'application/json' }),
    ...(request.headers as Record<string, string>),
    ...headers,
  };
  const response = await fetch(`${baseUrl}${request.url as string}`, { method: request.method, headers: all, ...(payload !== undefined && { body: payload }) });
  return { status: response.status, headers: Object.fromEntries(response.headers), body: await response.text() };
}

/** Malformed HTTP that no client library sends: each must get a 4xx (or a closed connection), never take the process down. */
async function rawRequests(baseUrl: string): Promise<Array<{ request: string; answer: string }>> {
  const { hostname, port } = new URL(baseUrl);
  const raw = [
    'GARBAGE\r\n\r\n',
    `GET /api/v1/patients HTTP/1.1\r\nHost: x\r\n${'X-A: b\r\n'.repeat(2000)}\r\n`,
    'POST /api/v1/patients HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
    'POST /api/v1/patients HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nContent-Length: 20\r\n\r\n{}',
    'POST /api/v1/patients HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\nContent-Type: application/json\r\n\r\n{',
    `GET /${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
    'GET /api/v1/patients/\u0000 HTTP/1.1\r\nHost: x\r\n\r\n',
  ];
  const answers: Array<{ request: string; answer: string }> = [];
  for (const request of raw) {
    const answer = await new Promise<string>((resolve) => {
      const socket = net.connect(Number(port), hostname);
      let data = '';
      socket.setTimeout(2_000, () => socket.destroy());
      socket.on('data', (chunk) => (data += chunk.toString('latin1')));
      socket.on('close', () => resolve(data));
      socket.on('error', () => resolve(data));
      socket.end(request);
    });
    answers.push({ request: request.slice(0, 60), answer: answer.split('\r\n')[0] ?? '' });
  }
  return answers;
}

/** What the server logged about an INTERNAL answer (its request id is in the message), to name the fault. */
function serverError(server: TestServer, body: string): string {
  const requestId = /request id ([0-9a-f-]{36})/.exec(body)?.[1];
  const line = requestId && server.logs.lines.find((l) => l.includes(requestId) && l.includes('"err"'));
  if (!line) return 'no log line';
  const err = (JSON.parse(line) as { err?: { type?: string; code?: string; message?: string; stack?: string } }).err;
  return `${err?.type} ${err?.code ?? ''} ${err?.message ?? ''} ${(err?.stack ?? '').split('\n').slice(1, 4).join(' | ')}`;
}

/**
 * Runs `cases` cases from `seed` and judges each answer; with `onProgress`, says how far it is. Every 10th
 * case (and every case generated for it) goes over real HTTP; the rest through inject.
 */
export async function runFuzz(ctx: FuzzContext, seed: number, cases: number, onProgress?: (done: number) => void): Promise<FuzzResult> {
  const rng = seededRandom(seed);
  const result: FuzzResult = { seed, cases, byStatus: {}, byCode: {}, accepted: 0, overHttp: 0, findings: [] };
  const browser = await ctx.server.newBrowser();
  let fingerprint = storeFingerprint(ctx.server.dataDir);
  for (let n = 0; n < cases; n++) {
    const c = generateCase(rng, ctx);
    const headers = headersFor(ctx, c.as, browser);
    const http = c.http === true || n % 10 === 0;
    const describe = `${c.request.method} ${String(c.request.url).slice(0, 120)} as ${c.as}`;
    const finding = (problem: string, answer: Answer) => result.findings.push({ n, family: c.family, problem, status: answer.status, request: describe, body: answer.body.slice(0, 300) });
    let answer: Answer;
    try {
      if (http) {
        result.overHttp++;
        answer = await overHttp(ctx.baseUrl, c.request, headers);
      } else {
        // sign-in cases from addresses of their own, so that the throttle of one address does not answer them all
        const remoteAddress = c.as === 'browser' ? `198.51.${(n >> 8) & 255}.${n & 255}` : undefined;
        const response: LightMyRequestResponse = await ctx.server.app.inject({
          ...c.request,
          headers: { ...(c.request.headers as Record<string, string>), ...headers },
          ...(remoteAddress && { remoteAddress }),
        });
        answer = { status: response.statusCode, headers: response.headers, body: response.body };
      }
    } catch (e) {
      finding(`no answer: ${String(e)}`, { status: 0, headers: {}, body: '' });
      continue;
    }
    result.byStatus[answer.status] = (result.byStatus[answer.status] ?? 0) + 1;
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer.body);
    } catch {
      parsed = undefined;
    }
    const code = (parsed as { error?: { code?: unknown } } | undefined)?.error?.code;
    if (answer.status >= 400)
      result.byCode[String(code ?? (parsed as { resourceType?: string } | undefined)?.resourceType ?? 'none')] =
        (result.byCode[String(code ?? (parsed as { resourceType?: string } | undefined)?.resourceType ?? 'none')] ?? 0) + 1;
    if (STACK.test(answer.body)) finding('stack trace or source path in the answer', answer);
    if (answer.status >= 500 && !(answer.status === 503 && code === 'ENGINE_BUSY')) finding(`5xx: ${serverError(ctx.server, answer.body)}`, answer);
    // a refusal by the HTTP parser comes before any route: it cannot know a FHIR client is asking
    const fhir = String(c.request.url).startsWith('/fhir') && answer.status !== 431;
    if (answer.status >= 400) {
      const shaped = fhir
        ? (parsed as { resourceType?: unknown } | undefined)?.resourceType === 'OperationOutcome'
        : typeof code === 'string' && typeof (parsed as { error: { message?: unknown } }).error.message === 'string';
      if (!shaped) finding('error without the documented shape', answer);
    }
    const now = storeFingerprint(ctx.server.dataDir);
    if (answer.status >= 400 && now !== fingerprint) finding('a refused request changed stored records', answer);
    if (answer.status < 400) {
      result.accepted++;
      if (c.patient && answer.status === 201) {
        const created = parsed as { id: string };
        const read = await ctx.server.as(ctx.frontDesk, { method: 'GET', url: `/api/v1/patients/${created.id}` });
        const back = read.json<Record<string, unknown>>();
        for (const field of ['name', 'identifier', 'birthDate', 'telecom', 'address', 'gender']) {
          if (JSON.stringify(back[field]) !== JSON.stringify(c.patient[field])) finding(`accepted patient does not read back: ${field}`, { ...answer, body: read.body });
        }
      }
    }
    fingerprint = now;
    onProgress?.(n + 1);
  }
  for (const { request, answer } of await rawRequests(ctx.baseUrl)) {
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
    result.byStatus[`raw ${status || 'closed'}`] = (result.byStatus[`raw ${status || 'closed'}`] ?? 0) + 1;
    if (status >= 500) result.findings.push({ n: -1, family: 'raw http', problem: '5xx', status, request, body: answer });
  }
  // the process is up and answers
  const health = await fetch(`${ctx.baseUrl}/health`);
  if (health.status !== 200) result.findings.push({ n: -1, family: 'health', problem: 'server not healthy after the run', status: health.status, request: 'GET /health', body: await health.text() });
  return result;
}

/** A server to fuzz: SQLite in a temp directory, one face worker, rate limits out of the way, listening on loopback. */
export async function startFuzzTarget(): Promise<FuzzContext & { close(): Promise<void> }> {
  const [{ FacePool }, { writeTestThresholds, PATIENTS }, { startTestServer }, { mkdtempSync, rmSync }, os] = await Promise.all([
    import('../../src/face/index.js'),
    import('../services/fixtures.js'),
    import('./harness.js'),
    import('node:fs'),
    import('node:os'),
  ]);
  const pool = await FacePool.create({ size: 1, queueLimit: 16 });
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'medface-fuzz-'));
  const thresholdsFile = path.join(scratch, 'thresholds.json');
  writeTestThresholds(thresholdsFile);
  const unlimited = { max: 1_000_000, windowMs: 60_000 };
  const server = await startTestServer({ deployment: { pool, thresholdsFile }, rateLimits: { signIn: unlimited, biometric: unlimited } });
  const baseUrl = await server.app.listen({ port: 0, host: '127.0.0.1' });
  const [frontDesk, clinician, admin, emergency] = [await server.signIn(['front-desk']), await server.signIn(['clinician']), await server.signIn(['admin']), await server.signIn(['emergency'])];
  const { key: apiKey } = await server.apiKey(['verify:patient', 'identify:patient']);
  const created = await server.as(frontDesk, { method: 'POST', url: '/api/v1/patients', payload: PATIENTS.alice });
  const patientId = created.json<{ id: string }>().id;
  await server.as(frontDesk, { method: 'POST', url: `/api/v1/patients/${patientId}/consent`, payload: { notice: 'v2' } });
  const other = await server.as(frontDesk, { method: 'POST', url: '/api/v1/patients', payload: PATIENTS.bob });
  return {
    server,
    patientId,
    consentPatientId: other.json<{ id: string }>().id,
    frontDesk,
    clinician,
    admin,
    emergency,
    apiKey,
    images: await hostileImages(),
    baseUrl,
    async close() {
      await server.close();
      await pool.close();
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}
