import { type CliIo, type CommandHandlers, runCli } from '../cli.js';
import { benchOpsCommand } from './bench-ops.js';
import { benchStreamCommand } from './bench-stream.js';
import { demoCommand } from './demo.js';
import { evalCommand } from './eval.js';
import { exportCommand } from './export.js';
import { infoCommand } from './info.js';
import { reproduceCommand } from './reproduce.js';
import { trainCommand } from './train.js';

/**
 * The handler of each command name ({@link COMMAND_NAMES}); {@link runRecur} passes it to {@link
 * runCli}.
 */
export const HANDLERS: CommandHandlers = {
  train: trainCommand,
  eval: evalCommand,
  demo: demoCommand,
  'bench stream': benchStreamCommand,
  'bench ops': benchOpsCommand,
  info: infoCommand,
  export: exportCommand,
  reproduce: reproduceCommand,
};

/**
 * Runs the `recur` command line (argv without node and the script); resolves to the exit code.
 * Output goes to the process's stdout and stderr unless `io` names other streams.
 */
export function runRecur(argv: string[], io?: CliIo): Promise<number> {
  return runCli(argv, HANDLERS, io);
}
