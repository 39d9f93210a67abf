#!/usr/bin/env node
// The `recur` command.
import { runRecur } from './commands/index.js';

process.exitCode = await runRecur(process.argv.slice(2));
