/**
 * The few protocol-buffer encodings an ONNX model needs (varint, 32-bit float, length-delimited), enough to
 * write `onnx.proto`'s ModelProto without a protobuf library, and to read one back field by field. Each message is
 * built as a list of fields and serialised once.
 */
export class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];

  /** An integer field (int32, int64 or enum), negative values as 10-byte two's complement like protoc. */
  int(field: number, value: number | bigint): this {
    this.tag(field, 0);
    this.varint(BigInt.asUintN(64, BigInt(value)));
    return this;
  }

  /** A `float` field (fixed 32 bits, little-endian). */
  float(field: number, value: number): this {
    this.tag(field, 5);
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, value, true);
    this.chunks.push(bytes);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, 2);
    this.varint(BigInt(value.byteLength));
    this.chunks.push(value);
    return this;
  }

  /** An embedded message. */
  message(field: number, value: ProtoWriter): this {
    return this.bytes(field, value.finish());
  }

  /** A field copied as serialised (a `ProtoField`'s `raw`). */
  raw(field: Uint8Array): this {
    this.chunks.push(field);
    return this;
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.chunks.reduce((n, c) => n + c.byteLength, 0));
    let offset = 0;
    for (const c of this.chunks) {
      out.set(c, offset);
      offset += c.byteLength;
    }
    return out;
  }

  private tag(field: number, wireType: number): void {
    this.varint(BigInt((field << 3) | wireType));
  }

  private varint(value: bigint): void {
    const bytes: number[] = [];
    let v = value;
    do {
      const low = Number(v & 0x7fn);
      v >>= 7n;
      bytes.push(v > 0n ? low | 0x80 : low);
    } while (v > 0n);
    this.chunks.push(Uint8Array.from(bytes));
  }
}

/** One field of a serialised message: its number, wire type, its bytes as serialised (tag included) and its payload. */
export interface ProtoField {
  field: number;
  wireType: number;
  raw: Uint8Array;
  /** A varint's value, a length-delimited field's bytes, or a fixed field's bytes. */
  value: bigint | Uint8Array;
}

/** The fields of a serialised message in order, for a rewrite that keeps whatever it does not touch as it was. */
export function readFields(bytes: Uint8Array): ProtoField[] {
  const fields: ProtoField[] = [];
  let at = 0;
  const varint = (): bigint => {
    let value = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (at >= bytes.length) throw new RangeError('protobuf: truncated varint');
      const b = bytes[at++]!;
      value |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return value;
    }
  };
  while (at < bytes.length) {
    const start = at;
    const tag = Number(varint());
    const wireType = tag & 7;
    let value: bigint | Uint8Array;
    if (wireType === 0) value = varint();
    else {
      const length = wireType === 2 ? Number(varint()) : wireType === 1 ? 8 : wireType === 5 ? 4 : -1;
      if (length < 0 || at + length > bytes.length) throw new RangeError(`protobuf: wire type ${wireType} or length unreadable`);
      value = bytes.subarray(at, at + length);
      at += length;
    }
    fields.push({ field: tag >>> 3, wireType, raw: bytes.subarray(start, at), value });
  }
  return fields;
}
