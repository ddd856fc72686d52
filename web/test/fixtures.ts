// Arrow vectors for the unit tests, typed as the server sends them (docs/api.md).

import { DateDay, Decimal, Float64, Int64, Utf8, makeData, makeVector, vectorFromArray, type Vector } from 'apache-arrow';

/** DECIMAL(38, scale) in 128 bits, as DuckDB sums of currency come back. */
export function dec(values: (number | null)[], scale = 2): Vector {
  const data = new Uint32Array(values.length * 4);
  const validity = new Uint8Array(Math.ceil(values.length / 8));
  values.forEach((v, i) => {
    if (v === null) return;
    validity[i >> 3]! |= 1 << (i & 7);
    let x = BigInt.asUintN(128, BigInt(Math.round(v * 10 ** scale)));
    for (let w = 0; w < 4; w++) {
      data[i * 4 + w] = Number(x & 0xffffffffn);
      x >>= 32n;
    }
  });
  return makeVector(
    makeData({
      type: new Decimal(scale, 38, 128),
      length: values.length,
      nullCount: values.filter((v) => v === null).length,
      nullBitmap: validity,
      data,
    }),
  );
}
export const utf8 = (values: (string | null)[]): Vector => vectorFromArray(values, new Utf8());
export const date32 = (values: string[]): Vector =>
  vectorFromArray(
    values.map((v) => new Date(`${v}T00:00:00Z`)),
    new DateDay(),
  );
export const f64 = (values: number[]): Vector => vectorFromArray(values, new Float64());
export const i64 = (values: number[]): Vector => vectorFromArray(values.map(BigInt), new Int64());
