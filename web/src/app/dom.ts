// Building DOM without innerHTML: every piece of text becomes a text node, so strings from the
// server render literally whatever they contain.

export type Attrs = Record<string, string | number | boolean | null | undefined>;
export type Child = Node | string | number | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'class') el.className = String(value);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, ...children);
  return el;
}

export function append(el: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

export function clear(el: Node): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

let seq = 0;
/** A document-unique id for aria wiring. */
export function uid(prefix: string): string {
  seq += 1;
  return `${prefix}-${seq}`;
}

/** Text with `code` spans: backtick pairs become <code>, line breaks <br>, blank lines paragraphs. */
export function richText(text: string): DocumentFragment {
  const frag = document.createDocumentFragment();
  for (const para of text.split(/\n\s*\n/)) {
    if (para.trim() === '') continue;
    const p = document.createElement('p');
    const lines = para.split('\n');
    lines.forEach((line, i) => {
      if (i > 0) p.appendChild(document.createElement('br'));
      const parts = line.split('`');
      // An odd number of backticks leaves the last one literal.
      const paired = parts.length % 2 === 1 ? parts : [...parts.slice(0, -2), parts.slice(-2).join('`')];
      paired.forEach((part, j) => {
        if (j % 2 === 1) {
          const code = document.createElement('code');
          code.textContent = part;
          p.appendChild(code);
        } else if (part !== '') {
          p.appendChild(document.createTextNode(part));
        }
      });
    });
    frag.appendChild(p);
  }
  return frag;
}

export function debounce<A extends unknown[]>(fn: (...args: A) => void, ms: number): ((...args: A) => void) & { cancel(): void; flush(): void } {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let last: A | null = null;
  const run = (...args: A): void => {
    last = args;
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      const a = last;
      last = null;
      if (a) fn(...a);
    }, ms);
  };
  run.cancel = (): void => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    last = null;
  };
  run.flush = (): void => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    const a = last;
    last = null;
    if (a) fn(...a);
  };
  return run;
}

/** Resolves after `ms`, or rejects with an AbortError as soon as `signal` aborts. */
export function wait(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new DOMException('aborted', 'AbortError'));
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new DOMException('aborted', 'AbortError'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
