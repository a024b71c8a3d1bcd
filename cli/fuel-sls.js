#!/usr/bin/env node
// Entry point of the `fuel-sls` command: loads the TypeScript CLI through tsx, in this process.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
