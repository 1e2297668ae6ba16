/**
 * Decodes the Kubernetes protobuf wire format for the fake API server: the `k8s\0` envelope,
 * its runtime.Unknown message, and the one typed body kubectl sends that way here (a
 * ConfigMap from `kubectl create configmap`). Field numbers are those of the generated.proto
 * files: apimachinery runtime (Unknown, TypeMeta), meta/v1 (ObjectMeta) and core/v1 (ConfigMap).
 * Only the fields the fake stores are read; every other field is skipped by its wire type.
 */
import { HttpError, type Json, type K8sObject } from './wire.js';

/** The media type of a protobuf body. */
export const PROTOBUF_MEDIA_TYPE = 'application/vnd.kubernetes.protobuf';

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** One field of a message: its number, and its value (a number for varints, bytes otherwise). */
interface Field {
  readonly number: number;
  readonly varint?: number;
  readonly bytes?: Buffer;
}

function bad(message: string): HttpError {
  return new HttpError(400, `protobuf body: ${message}`);
}

function readVarint(buf: Buffer, start: number): [number, number] {
  let value = 0;
  let factor = 1;
  for (let i = start; i < buf.length && i < start + 10; i += 1) {
    const byte = buf[i] ?? 0;
    value += (byte & 0x7f) * factor;
    if ((byte & 0x80) === 0) return [value, i + 1];
    factor *= 128;
  }
  throw bad('truncated varint');
}

/** The fields of one message, in order (a repeated or map field appears once per entry). */
export function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let at = 0;
  while (at < buf.length) {
    const [tag, next] = readVarint(buf, at);
    const number = Math.floor(tag / 8);
    const wire = tag % 8;
    at = next;
    if (wire === 0) {
      const [value, after] = readVarint(buf, at);
      out.push({ number, varint: value });
      at = after;
    } else if (wire === 2) {
      const [length, after] = readVarint(buf, at);
      if (after + length > buf.length) throw bad(`field ${number} runs past the end`);
      out.push({ number, bytes: buf.subarray(after, after + length) });
      at = after + length;
    } else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else throw bad(`unsupported wire type ${wire} in field ${number}`);
  }
  if (at > buf.length) throw bad('truncated fixed-width field');
  return out;
}

const text = (f: Field): string => (f.bytes ?? Buffer.alloc(0)).toString('utf8');

/** A `map<string, string>` (or bytes, base64 as in JSON) from its entries: key = 1, value = 2. */
function mapOf(entries: readonly Field[], asBase64 = false): Record<string, string> {
  const map: Record<string, string> = {};
  for (const entry of entries) {
    const parts = fields(entry.bytes ?? Buffer.alloc(0));
    const key = parts.find((p) => p.number === 1);
    const value = parts.find((p) => p.number === 2)?.bytes ?? Buffer.alloc(0);
    map[key === undefined ? '' : text(key)] = asBase64 ? value.toString('base64') : value.toString('utf8');
  }
  return map;
}

/** meta/v1 ObjectMeta: name 1, generateName 2, namespace 3, resourceVersion 6, labels 11, annotations 12. */
function objectMeta(buf: Buffer): K8sObject['metadata'] {
  const all = fields(buf);
  const one = (n: number): string | undefined => {
    const f = all.find((x) => x.number === n);
    return f === undefined ? undefined : text(f);
  };
  const meta: Json = { name: one(1) ?? '' };
  // Go's marshaller writes empty optional strings too; empty means unset, as in JSON's omitempty.
  const set = (key: string, value: string | undefined): void => {
    if (value !== undefined && value !== '') meta[key] = value;
  };
  set('generateName', one(2));
  set('namespace', one(3));
  set('resourceVersion', one(6));
  const labels = all.filter((f) => f.number === 11);
  const annotations = all.filter((f) => f.number === 12);
  if (labels.length > 0) meta['labels'] = mapOf(labels);
  if (annotations.length > 0) meta['annotations'] = mapOf(annotations);
  return meta as K8sObject['metadata'];
}

/** core/v1 ConfigMap: metadata 1, data 2, binaryData 3, immutable 4. */
function configMap(buf: Buffer): K8sObject {
  const all = fields(buf);
  const meta = all.find((f) => f.number === 1);
  const out: K8sObject = { metadata: objectMeta(meta?.bytes ?? Buffer.alloc(0)) };
  const data = all.filter((f) => f.number === 2);
  const binary = all.filter((f) => f.number === 3);
  const immutable = all.find((f) => f.number === 4);
  if (data.length > 0) out['data'] = mapOf(data);
  if (binary.length > 0) out['binaryData'] = mapOf(binary, true);
  if (immutable !== undefined) out['immutable'] = immutable.varint === 1;
  return out;
}

/** Typed bodies the fake can read from protobuf, by `apiVersion/kind`. */
const DECODERS: Readonly<Record<string, (raw: Buffer) => K8sObject>> = {
  'v1/ConfigMap': configMap,
};

/**
 * Decodes a protobuf request body into the JSON object it stands for: the envelope (magic
 * `k8s\0`, then runtime.Unknown: typeMeta 1 {apiVersion 1, kind 2}, raw 2, contentEncoding 3,
 * contentType 4), then `raw` as the typed message. A kind without a decoder is 415, as an
 * apiserver answers a media type it cannot read for that resource.
 */
export function decodeProtobufObject(body: Buffer): K8sObject {
  if (body.length < MAGIC.length || !body.subarray(0, MAGIC.length).equals(MAGIC)) throw bad('missing the k8s\\0 magic prefix');
  const unknown = fields(body.subarray(MAGIC.length));
  const typeMeta = fields(unknown.find((f) => f.number === 1)?.bytes ?? Buffer.alloc(0));
  const apiVersion = text(typeMeta.find((f) => f.number === 1) ?? { number: 1 });
  const kind = text(typeMeta.find((f) => f.number === 2) ?? { number: 2 });
  const encoding = unknown.find((f) => f.number === 3);
  if (encoding !== undefined && text(encoding) !== '') throw bad(`content encoding ${text(encoding)} is not supported`);
  const decoder = DECODERS[`${apiVersion}/${kind}`];
  if (decoder === undefined) throw new HttpError(415, `the fake cannot decode ${apiVersion} ${kind} from ${PROTOBUF_MEDIA_TYPE}; send application/json`);
  const raw = unknown.find((f) => f.number === 2)?.bytes ?? Buffer.alloc(0);
  return { apiVersion, kind, ...decoder(raw) };
}
