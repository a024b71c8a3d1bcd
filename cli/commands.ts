/** The command table: every `noun verb` of fuel-sls, in the order of the help. */
import type { Command } from './command.js';
import { envCommands } from './env.js';
import { graphCommands } from './graph.js';
import { nodeCommands } from './node.js';
import { taskCommands } from './task.js';

export const COMMANDS: readonly Command[] = [
  ...envCommands,
  ...nodeCommands,
  ...graphCommands,
  ...taskCommands,
];
