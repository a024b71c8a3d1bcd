/**
 * The command line prints what came from the server without terminal control characters: escape
 * sequences (CSI, OSC, DCS, other escapes, in their 7- and 8-bit forms), C0 controls but newline and tab,
 * DEL and C1 controls; in table cells (one line each), in plain output, in JSON and in error messages.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Api } from '../../cli/api.js';
import type { Context, Io } from '../../cli/command.js';
import { follow } from '../../cli/follow.js';
import { printList, printObject, table } from '../../cli/output.js';
import { run } from '../../cli/run.js';
import { escapeJsonControls, safeJson, sanitize, sanitizeLine } from '../../cli/sanitize.js';

const ESC = '\u001b';
/** Every character a terminal treats as a control: C0 but newline and tab, DEL, C1. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: what the tests look for
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

/** What a hostile or careless server could send, and what is left of it. */
const CASES: [string, string, string][] = [
  ['colours (CSI SGR)', `${ESC}[31mred${ESC}[0m`, 'red'],
  ['cursor moves and clears', `a${ESC}[2J${ESC}[H${ESC}[10;20Hb${ESC}[?25l`, 'ab'],
  ['a title (OSC ended by BEL)', `${ESC}]0;owned\u0007x`, 'x'],
  ['a hyperlink (OSC 8 ended by ST)', `${ESC}]8;;http://evil${ESC}\\link${ESC}]8;;${ESC}\\`, 'link'],
  ['a DCS string', `${ESC}Pq#0;2;0;0;0${ESC}\\ok`, 'ok'],
  ['an APC string', `${ESC}_payload${ESC}\\ok`, 'ok'],
  ['other escapes (reset, charset, save)', `${ESC}c${ESC}(B${ESC}7ok`, 'ok'],
  ['8-bit CSI', '\u009b31mred\u009b0m', 'red'],
  ['8-bit OSC ended by 8-bit ST', '\u009d0;owned\u009cx', 'x'],
  ['an unterminated OSC: only the escape goes', `${ESC}]0;title`, '0;title'],
  ['a lone ESC at the end', `done${ESC}`, 'done'],
  ['backspace, carriage return, bell, form feed, NUL', 'a\bb\rc\u0007d\fe\u0000f', 'abcdef'],
  ['DEL and C1 controls', 'a\u007fb\u0085c\u009fd', 'abcd'],
  ['newline and tab stay', 'line 1\n\tline 2', 'line 1\n\tline 2'],
  ['ordinary text, Unicode too', 'node-1 ready — ü 日本 ✓', 'node-1 ready — ü 日本 ✓'],
];

describe('sanitize', () => {
  it.each(CASES)('%s', (_, input, expected) => {
    expect(sanitize(input)).toBe(expected);
    expect(sanitize(input)).not.toMatch(CONTROL);
  });

  it('leaves no control character in any text', () => {
    let all = '';
    for (let code = 0; code < 0x100; code++) all += String.fromCharCode(code);
    expect(sanitize(all.repeat(3))).not.toMatch(CONTROL);
    expect(sanitizeLine(all)).not.toMatch(/[\n\t]/);
  });

  it('puts a table cell on one line', () => {
    expect(sanitizeLine(`exit 5:\n${ESC}[31mboom${ESC}[0m\tnow`)).toBe('exit 5: boom now');
  });
});

describe('what the commands print', () => {
  const lines: string[] = [];
  const io: Io = {
    out: (text) => lines.push(text),
    err: (text) => lines.push(text),
    write: (raw) => lines.push(raw),
    isTTY: false,
  };
  const context = (json: boolean, api?: Partial<Api>): Context => ({
    api: { call: () => Promise.reject(new Error('no API')), ...api } as Api,
    io,
    json,
  });
  const hostile = {
    id: 1,
    name: `node-1${ESC}[2J${ESC}]0;owned\u0007`,
    status: `ready\u009b1m`,
    roles: ['a\rb'],
  };

  it('tables: aligned cells without controls', () => {
    const out = table(
      [hostile, { id: 22, name: 'node-22', status: 'error', roles: [] }],
      ['id', 'name', 'status'],
    );
    expect(out).not.toMatch(CONTROL);
    expect(out.split('\n')).toEqual([
      'id  name     status',
      '--  -------  ------',
      '1   node-1   ready',
      '22  node-22  error',
    ]);
    lines.length = 0;
    printList(context(false), [hostile], ['name', 'roles']);
    printObject(context(false), { message: `a\nb${ESC}[K` }, ['message']);
    expect(lines.join('\n')).not.toMatch(CONTROL);
    expect(lines.join('\n')).toContain('a b');
  });

  it('--json: the same values, every control escaped', () => {
    lines.length = 0;
    printList(context(true), [hostile], ['name']);
    const [printed = ''] = lines;
    expect(printed).not.toMatch(CONTROL);
    expect(JSON.parse(printed)).toEqual([hostile]);
    expect(safeJson({ a: '\u009b' })).toContain('\\u009b');
    expect(escapeJsonControls('"\u007f"')).toBe('"\\u007f"');
  });

  it.each([false, true])('--wait (terminal: %s): node names and the task message', async (isTTY) => {
    lines.length = 0;
    const task = {
      id: 7,
      name: 'deploy',
      status: 'error',
      progress: 100,
      cluster: 1,
      message: `Deployment failed:\n${ESC}]8;;http://evil${ESC}\\node-1${ESC}]8;;${ESC}\\ exit 5`,
      result: {},
    };
    const api = {
      call: <T>(_: string, path: string): Promise<T> =>
        Promise.resolve((path.startsWith('/nodes/') ? [hostile] : task) as T),
    };
    const code = await follow({ ...context(false, api), io: { ...io, isTTY } }, 7);
    expect(code).toBe(1);
    const printed = lines.join('');
    // the live view draws with its own escape sequences (cursor up, erase); none came from the server
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the view's own sequences
    const own = printed.replace(/\u001b\[(?:\d+A\r|K|J)/g, '');
    expect(own).not.toMatch(CONTROL);
    expect(own).toContain('Deployment failed:\nnode-1 exit 5');
  });
});

describe('error messages', () => {
  let server: Server;
  let url: string;

  beforeAll(async () => {
    server = createServer((_, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: `Cluster ${ESC}[2J${ESC}]0;owned\u0007not found\u009b` }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it("quote the server's message without its controls", async () => {
    const err: string[] = [];
    const io: Io = { out: () => {}, err: (text) => err.push(text), write: () => {}, isTTY: false };
    const code = await run(['env', 'show', '1'], io, { FUEL_API_URL: url, FUEL_AUTH_TOKEN: 't' });
    expect(code).toBe(1);
    expect(err).toEqual(['Error: GET /api/v1/clusters/1/: 404 Cluster not found']);
  });
});
