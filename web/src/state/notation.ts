// A compact, URL-friendly notation for JSON-like values (strings, numbers, booleans, null,
// lists and string-keyed objects). It reads well in an address bar and round-trips exactly:
//
//   North                    the string "North" (a bare word: anything but ! ' ( ) , that
//                            does not read as a JSON number)
//   'Sports, Games'          a quoted string; inside quotes  !'  is a quote and  !!  a bang
//   '5'                      the string "5" (a bare 5 is the number 5)
//   12  -3.5  1e+21          numbers, JSON syntax
//   !n  !t  !f               null, true, false
//   !(Online,Partner)        a list
//   (from:2024-01-01)        an object (keys are bare words without ':' or quoted strings)
//
// The URL layer (url.ts) percent-encodes the result, leaving , : ( ) ! ' readable.

export type NValue = string | number | boolean | null | NValue[] | { [key: string]: NValue };

const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
const STRUCTURAL = /[!'(),]/;

function quote(text: string): string {
  return "'" + text.replace(/!/g, '!!').replace(/'/g, "!'") + "'";
}

/** A string as a bare word when that reads back as the same string, else quoted. */
export function encodeString(text: string, opts: { forKey?: boolean; noLeadingDash?: boolean } = {}): string {
  if (
    text === '' ||
    STRUCTURAL.test(text) ||
    NUMBER.test(text) ||
    (opts.forKey === true && text.includes(':')) ||
    (opts.noLeadingDash === true && text.startsWith('-'))
  ) {
    return quote(text);
  }
  return text;
}

export function encodeValue(value: NValue): string {
  if (value === null) return '!n';
  if (value === true) return '!t';
  if (value === false) return '!f';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '!n';
  if (typeof value === 'string') return encodeString(value);
  if (Array.isArray(value)) return '!(' + value.map(encodeValue).join(',') + ')';
  const parts: string[] = [];
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined) continue;
    parts.push(encodeString(key, { forKey: true }) + ':' + encodeValue(v));
  }
  return '(' + parts.join(',') + ')';
}

export class NotationError extends Error {}

/** A cursor over notation text; exported for readers of composite forms (sort lists). */
export class NotationReader {
  pos = 0;
  constructor(readonly text: string) {}

  get done(): boolean {
    return this.pos >= this.text.length;
  }

  peek(): string {
    return this.text.charAt(this.pos);
  }

  eat(ch: string): boolean {
    if (this.text.charAt(this.pos) === ch) {
      this.pos++;
      return true;
    }
    return false;
  }

  expect(ch: string): void {
    if (!this.eat(ch)) this.fail(`expected '${ch}'`);
  }

  fail(message: string): never {
    throw new NotationError(`${message} at ${this.pos} in ${JSON.stringify(this.text)}`);
  }

  private quoted(): string {
    this.expect("'");
    let out = '';
    for (;;) {
      if (this.done) this.fail('unterminated string');
      const ch = this.text.charAt(this.pos++);
      if (ch === "'") return out;
      if (ch === '!') {
        const next = this.text.charAt(this.pos++);
        if (next !== '!' && next !== "'") this.fail('bad escape');
        out += next;
      } else {
        out += ch;
      }
    }
  }

  private bare(stop: RegExp): string {
    const start = this.pos;
    while (!this.done && !stop.test(this.text.charAt(this.pos))) this.pos++;
    if (this.pos === start) this.fail('expected a value');
    return this.text.slice(start, this.pos);
  }

  key(): string {
    return this.peek() === "'" ? this.quoted() : this.bare(/[!'(),:]/);
  }

  /** A string only (quoted or bare, never a number or keyword). */
  string(): string {
    return this.peek() === "'" ? this.quoted() : this.bare(/[!'(),]/);
  }

  value(): NValue {
    const ch = this.peek();
    if (ch === "'") return this.quoted();
    if (ch === '!') {
      this.pos++;
      const kind = this.text.charAt(this.pos++);
      if (kind === 'n') return null;
      if (kind === 't') return true;
      if (kind === 'f') return false;
      if (kind === '(') {
        const list: NValue[] = [];
        if (this.eat(')')) return list;
        do list.push(this.value());
        while (this.eat(','));
        this.expect(')');
        return list;
      }
      this.fail('unknown !-form');
    }
    if (ch === '(') {
      this.pos++;
      const obj: { [key: string]: NValue } = {};
      if (this.eat(')')) return obj;
      do {
        const key = this.key();
        this.expect(':');
        // defineProperty: a key like "__proto__" stays an ordinary key.
        Object.defineProperty(obj, key, { value: this.value(), enumerable: true, writable: true, configurable: true });
      } while (this.eat(','));
      this.expect(')');
      return obj;
    }
    const word = this.bare(/[!'(),]/);
    return NUMBER.test(word) ? Number(word) : word;
  }
}

export function decodeValue(text: string): NValue {
  const reader = new NotationReader(text);
  const value = reader.value();
  if (!reader.done) reader.fail('trailing text');
  return value;
}
