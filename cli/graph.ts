/** `graph ...`: an environment's deployment graph, to and from JSON or YAML files. */
import { readFile, writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import type { GraphTaskJson } from '../lambdas/api/wire.js';
import { type Command, command, ENV_FLAG, Failure, messageOf, UsageError } from './command.js';
import { printList } from './output.js';
import { escapeJsonControls } from './sanitize.js';

type Format = 'json' | 'yaml';

function formatOf(path: string): Format {
  const ext = extname(path).toLowerCase();
  if (ext === '.json') return 'json';
  if (ext === '.yaml' || ext === '.yml') return 'yaml';
  throw new UsageError(`--file must end in .json, .yaml or .yml (got '${path}')`);
}

/** `yaml` is loaded only for YAML files. */
async function yaml() {
  try {
    return await import('yaml');
  } catch {
    throw new Failure("YAML files need the 'yaml' package: npm install yaml");
  }
}

async function parse(path: string, format: Format): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Failure(`cannot read ${path}: ${messageOf(err)}`);
  }
  try {
    return format === 'json' ? JSON.parse(text) : (await yaml()).parse(text);
  } catch (err) {
    if (err instanceof Failure) throw err;
    throw new Failure(`${path} is not valid ${format.toUpperCase()}: ${messageOf(err)}`);
  }
}

async function serialize(value: unknown, format: Format): Promise<string> {
  return format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : (await yaml()).stringify(value);
}

export const graphCommands: Command[] = [
  command({
    name: 'graph download',
    summary: "an environment's deployment graph, as JSON or YAML",
    description:
      'Downloads the deployment graph of an environment (the release default until one is uploaded). ' +
      'Writes JSON to stdout, or to --file (YAML when its name ends in .yaml or .yml).',
    api: 'GET /api/v1/clusters/ENV/deployment_tasks/',
    flags: {
      env: ENV_FLAG,
      file: { kind: 'string', value: 'PATH', help: 'write to this file instead of stdout' },
    },
    example: 'graph download --env 1 --file graph.yaml',
    async run(v, ctx) {
      const format = v.file === undefined ? 'json' : formatOf(v.file);
      const graph = await ctx.api.call<GraphTaskJson[]>('GET', `/clusters/${v.env}/deployment_tasks/`);
      const text = await serialize(graph, format);
      if (v.file === undefined) {
        // to the terminal: JSON with every control character escaped (a file gets the text as it is)
        ctx.io.write(escapeJsonControls(text));
        return;
      }
      try {
        await writeFile(v.file, text);
      } catch (err) {
        throw new Failure(`cannot write ${v.file}: ${messageOf(err)}`);
      }
      if (!ctx.json) ctx.io.out(`Wrote the ${graph.length} tasks of environment ${v.env} to ${v.file}.`);
    },
  }),
  command({
    name: 'graph upload',
    summary: "replace an environment's deployment graph",
    description:
      'Replaces the deployment graph of an environment with the tasks of a JSON or YAML file (a list in ' +
      'the upload format: id, type, roles, requires, cross-depends, parameters...). The API validates it ' +
      'and refuses it while the environment is locked. Prints the tasks it kept.',
    api: 'PUT /api/v1/clusters/ENV/deployment_tasks/',
    flags: {
      env: ENV_FLAG,
      file: { kind: 'string', value: 'PATH', required: true, help: 'a .json, .yaml or .yml file' },
    },
    example: 'graph upload --env 1 --file graph.yaml',
    async run(v, ctx) {
      const graph = await parse(v.file, formatOf(v.file));
      const saved = await ctx.api.call<GraphTaskJson[]>('PUT', `/clusters/${v.env}/deployment_tasks/`, graph);
      printList(ctx, saved, ['id', 'type', 'roles', 'requires']);
    },
  }),
];
