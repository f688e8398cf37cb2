/**
 * The static files of the `tkvm web` page: the page's own (web/ in the
 * package, next to package.json) and xterm.js's ES module and stylesheet
 * (resolved in node_modules at run time). Paths are found from this
 * module's URL, so that they are the same from dist/src/ (compiled) and
 * dist/tkvm/ (the bundled CLI). All are read once at start: a missing file
 * is a one-line error then, not a 404 later; the set is fixed, so no
 * request path ever reaches the file system.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { TkvmError } from '../../util/errors.js';
import { findPackage } from '../../util/package-root.js';

export interface Asset {
  contentType: string;
  body: Buffer;
}

/** URL path (after the token) -> where the file lives. */
function assetFiles(moduleUrl: string): Record<string, { file: string; contentType: string }> {
  const web = join(findPackage(moduleUrl).root, 'web');
  const xterm = dirname(createRequire(moduleUrl).resolve('@xterm/xterm/package.json'));
  const js = 'text/javascript; charset=utf-8';
  return {
    '/': { file: join(web, 'index.html'), contentType: 'text/html; charset=utf-8' },
    '/app.js': { file: join(web, 'app.js'), contentType: js },
    '/charts.js': { file: join(web, 'charts.js'), contentType: js },
    '/style.css': { file: join(web, 'style.css'), contentType: 'text/css; charset=utf-8' },
    '/favicon.svg': { file: join(web, 'favicon.svg'), contentType: 'image/svg+xml' },
    '/xterm/xterm.mjs': { file: join(xterm, 'lib/xterm.mjs'), contentType: js },
    '/xterm/xterm.css': { file: join(xterm, 'css/xterm.css'), contentType: 'text/css; charset=utf-8' },
  };
}

/** Reads every asset; throws ERR_WEB_ASSET naming the first file it cannot read. */
export function loadAssets(moduleUrl: string = import.meta.url): Map<string, Asset> {
  let files;
  try {
    files = assetFiles(moduleUrl);
  } catch (err) {
    if (err instanceof TkvmError) throw err;
    throw new TkvmError('ERR_WEB_ASSET', `cannot find xterm.js (npm package @xterm/xterm): ${(err as Error).message.split('\n')[0]}`);
  }
  const assets = new Map<string, Asset>();
  for (const [path, { file, contentType }] of Object.entries(files)) {
    try {
      assets.set(path, { contentType, body: readFileSync(file) });
    } catch (err) {
      throw new TkvmError('ERR_WEB_ASSET', `cannot read the web console's file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  return assets;
}
