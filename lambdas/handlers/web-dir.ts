/** Reads the web UI's built folder (`web/dist`, or `web/` beside the bundled API function on AWS). */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { servable } from '../api/web-files.js';

/** Every servable file under `dir`, by its path relative to it with `/` separators; none if it is missing. */
export function readWebDir(dir: string): Record<string, string> {
  if (!existsSync(dir)) return {};
  const files: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = join(entry.parentPath, entry.name);
    const path = relative(dir, full).split(sep).join('/');
    if (servable(path)) files[path] = readFileSync(full, 'utf8');
  }
  return files;
}
