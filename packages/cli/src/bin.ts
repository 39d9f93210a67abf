#!/usr/bin/env node
// The `recur` command. Scaffold only: no command is implemented yet, so it says so and fails.
process.stderr.write('recur: no commands are implemented yet\n');
process.exitCode = 1;
