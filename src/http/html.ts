// A tiny HTML template tag that escapes every interpolated value unless it is already SafeHtml.
// Member names, roles, reasons, tags, errors and addresses come from etcd, i.e. from whoever
// can write Patroni's keys: escaping by default (instead of remembering to call escape()) is
// what keeps a member named `<script>` from running in an operator's browser.

export class SafeHtml {
  constructor(readonly text: string) {}

  toString(): string {
    return this.text;
  }
}

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

/** Values: SafeHtml as is; arrays item by item; null/undefined/false as nothing; the rest escaped. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? '');
  });
  return new SafeHtml(out);
}

/** Trusted markup only (constants of this module's callers), never data. */
export function raw(text: string): SafeHtml {
  return new SafeHtml(text);
}

function render(value: unknown): string {
  if (value instanceof SafeHtml) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === null || value === undefined || value === false) return '';
  return escapeHtml(typeof value === 'string' ? value : JSON.stringify(value) ?? '');
}
