import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A page ready to send: the HTML document and the headers that go with it. */
export interface PageDocument {
  html: string;
  headers: Record<string, string>;
}

/**
 * The document of the page in `api/pages/<name>/`: `<name>.html` is its body, `<name>.css` its
 * inline style and `<name>.ts` its one script, compiled by `npm run build` (api/pages/tsconfig.json,
 * which also copies the .css and .html) to `dist/api/pages/<name>/` and inlined as a module script.
 * The Content-Security-Policy allows only that script (by its SHA-256), requests to this origin and
 * nothing else: no framing, no referrer, no forms posting away.
 *
 * From the TypeScript sources (tests, tsx) it reads the build output in `dist/` too, as the worker
 * runs its compiled processor: build before testing. A missing build is an error that says so.
 */
export function loadPageDocument(name: string, title: string): PageDocument {
  const built = __filename.endsWith('.ts') ? join(__dirname, '..', '..', 'dist', 'api', 'pages', name) : join(__dirname, '..', 'pages', name);
  const files = { script: `${name}.js`, style: `${name}.css`, body: `${name}.html` };
  for (const file of Object.values(files)) {
    if (!existsSync(join(built, file))) throw new Error(`the ${name} page is not built (no ${join(built, file)}): run npm run build`);
  }
  const read = (file: string) => readFileSync(join(built, file), 'utf8');
  const script = read(files.script);
  // The script is inlined: a closing tag inside it would end it early.
  if (/<\/script/i.test(script)) throw new Error(`the ${name} page's script contains '</script'; it cannot be inlined`);
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${title}</title>
<style>${read(files.style)}</style>
</head>
<body>${read(files.body)}<script type="module">${script}</script>
</body>
</html>
`;
  const headers = {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-cache',
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    'content-security-policy': [
      "default-src 'none'",
      `script-src 'sha256-${createHash('sha256').update(script).digest('base64')}'`,
      "style-src 'unsafe-inline'",
      "connect-src 'self'",
      "img-src 'self' data: blob:",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join('; '),
  };
  return { html, headers };
}
