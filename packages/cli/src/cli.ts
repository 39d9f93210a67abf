import { setNumThreads } from '@recur/tensor';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import pc from 'picocolors';
import { CliError, messageOf } from './errors.js';
import {
  COMMANDS,
  type CommandName,
  defaultOf,
  descriptionOf,
  keyOfName,
  type OptionKey,
  type OptionsOf,
  optionsOf,
  specOf,
  TASKS,
  type TaskName,
  trainNotes,
  withDefaults,
} from './options.js';
import { parseOption } from './schema.js';
import { readJsonFile } from './util/files.js';
import { Reporter } from './util/output.js';
import { VERSION } from './version.js';

/** What parsing the command line gives a command. */
export interface Invocation<C extends CommandName = CommandName> {
  command: C;
  args: string[];
  /** Every option of the command: given, from --config, or its default. */
  options: OptionsOf<C>;
  /** The options given on the command line or in --config (not defaults). */
  given: Set<OptionKey>;
}

const GROUP_TITLES: Record<string, string> = {
  data: 'Data options:',
  model: 'Model options:',
  training: 'Training options:',
  output: 'Output options:',
  benchmark: 'Benchmark options:',
};

/** Parses and checks one value of an option (from the command line or a config file). */
export function coerceOption(key: OptionKey, raw: unknown, where: string): unknown {
  return parseOption(key, raw, where);
}

function helpBefore(name: CommandName, task?: TaskName): string {
  const spec = COMMANDS[name];
  const examples = task
    ? spec.examples.filter((e) => e.startsWith(`recur ${name} ${task} `))
    : spec.examples;
  return `${spec.summary}\n\n${pc.bold('Examples:')}\n${examples.map((e) => `  ${e}`).join('\n')}\n`;
}

function addOptions(cmd: Command, name: CommandName, task?: TaskName): void {
  for (const [key, spec] of optionsOf(name, task)) {
    const flags = spec.kind === 'boolean' ? spec.flag : `${spec.flag} ${spec.value ?? '<value>'}`;
    const d = defaultOf(spec, name);
    const shown =
      d === undefined || d === false
        ? ''
        : ` (default: ${Array.isArray(d) ? d.join(',') : String(d)})`;
    const choices =
      spec.choices && spec.kind !== 'list' && spec.choices.length <= 8 && key !== 'model'
        ? ` [${spec.choices.join('|')}]`
        : '';
    const opt = new Option(flags, `${descriptionOf(spec, name)}${choices}${shown}`).helpGroup(
      GROUP_TITLES[spec.group] ?? 'Options:',
    );
    if (spec.kind !== 'boolean') {
      opt.argParser((value: string) => {
        try {
          return coerceOption(key, value, spec.flag);
        } catch (e) {
          throw new InvalidArgumentError(messageOf(e).replace(`${spec.flag}: `, ''));
        }
      });
    }
    opt.attributeName = () => key;
    cmd.addOption(opt);
    if (spec.negatable) {
      const neg = new Option(`--no-${spec.flag.slice(2)}`, `turn ${spec.flag} off`).helpGroup(
        GROUP_TITLES[spec.group] ?? 'Options:',
      );
      neg.attributeName = () => key;
      cmd.addOption(neg);
    }
  }
}

/**
 * Builds the commander program from COMMANDS and OPTIONS; `onRun` receives the chosen command.
 * With `task`, `train` takes (and its --help lists) only the options that task uses.
 */
export function buildProgram(
  onRun: (command: CommandName, args: string[], cmd: Command) => void,
  write: { out: (s: string) => void; err: (s: string) => void },
  task?: TaskName,
): Command {
  const program = new Command('recur')
    .description(
      'Train, evaluate and benchmark attention-as-a-recurrence models (Aaren, AFT) and their baselines on the CPU.',
    )
    .version(VERSION, '-v, --version')
    .exitOverride()
    .showSuggestionAfterError(true)
    .showHelpAfterError(pc.dim('(run with --help for usage and examples)'))
    .configureOutput({ writeOut: write.out, writeErr: write.err })
    .addHelpText(
      'before',
      `${pc.bold('Examples:')}\n  recur demo\n  recur train forecast --model aaren --data ETTh1.csv --epochs 5\n  recur eval runs/etth1 --data ETTh1.csv --json\n  recur bench stream --tokens 16384\n  recur info --model aaren --d-model 512 --layers 1\n`,
    );
  const leaf = (parent: Command, word: string, name: CommandName) => {
    const spec = COMMANDS[name];
    const cmd = parent.command(`${word}${spec.args ? ` [${spec.args.replace(/[<>]/g, '')}]` : ''}`);
    cmd
      .description(spec.summary)
      .addHelpText('before', helpBefore(name, name === 'train' ? task : undefined))
      .allowExcessArguments(false);
    const forTask = name === 'train' ? task : undefined;
    if (forTask) cmd.description(`${spec.summary}: the ${forTask} task`);
    const notes = forTask ? trainNotes(forTask) : spec.notes;
    if (notes) cmd.addHelpText('after', `\n${notes}`);
    addOptions(cmd, name, forTask);
    cmd.action((...params: unknown[]) => {
      const args = params.slice(0, -2).filter((a): a is string => typeof a === 'string');
      onRun(name, args, cmd);
    });
    return cmd;
  };
  leaf(program, 'train', 'train');
  leaf(program, 'eval', 'eval');
  leaf(program, 'demo', 'demo');
  const bench = program
    .command('bench')
    .description('benchmarks: `bench stream` (the streaming figure) and `bench ops` (kernels)')
    .addHelpText(
      'before',
      `${pc.bold('Examples:')}\n  recur bench stream\n  recur bench ops --quick\n`,
    );
  leaf(bench, 'stream', 'bench stream');
  leaf(bench, 'ops', 'bench ops');
  leaf(program, 'info', 'info');
  leaf(program, 'export', 'export');
  leaf(program, 'reproduce', 'reproduce');
  return program;
}

/**
 * Resolves a command's options: command line first, then --config (a JSON object whose keys are
 * option names, 'd-model' or 'dModel'), then the table's defaults.
 */
export function resolveOptions<C extends CommandName>(
  command: C,
  cmd: Command,
): { options: OptionsOf<C>; given: Set<OptionKey> } {
  const raw = cmd.opts() as Record<string, unknown>;
  const options: Record<string, unknown> = {};
  const given = new Set<OptionKey>();
  const allowed = new Set(optionsOf(command).map(([k]) => k));
  for (const key of allowed) {
    if (raw[key] !== undefined && cmd.getOptionValueSource(key) === 'cli') {
      options[key] = raw[key];
      given.add(key);
    }
  }
  const configPath = options.config as string | undefined;
  if (configPath) {
    const json = readJsonFile(configPath, '--config');
    if (json === null || typeof json !== 'object' || Array.isArray(json)) {
      throw new CliError(`--config ${configPath}: expected a JSON object of options`);
    }
    for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
      const key = keyOfName(name);
      if (!key || !allowed.has(key) || key === 'config') {
        throw new CliError(`--config ${configPath}: unknown option '${name}' for recur ${command}`);
      }
      if (given.has(key)) continue;
      options[key] = coerceOption(key, value, `--config ${configPath}: option '${name}'`);
      given.add(key);
    }
  }
  return { options: withDefaults(command, options), given };
}

/**
 * Runs one command from its resolved {@link Invocation}, writing through the reporter, and resolves
 * to the exit code (0 success, 2 bad input, 1 anything else).
 */
export type CommandHandler<C extends CommandName = CommandName> = (
  inv: Invocation<C>,
  reporter: Reporter,
) => Promise<number>;

/** A handler for every command, each given its own command's options. */
export type CommandHandlers = { [C in CommandName]: CommandHandler<C> };

/** Where a run of the command writes: the process's streams, or a caller's (tests, embedding). */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

/**
 * Runs `recur` with `argv` (without node and the script): parses, resolves options, dispatches to
 * `handlers`. Returns the exit code: 0 success, 2 bad input, 130 interrupted, 1 anything else.
 */
export async function runCli(
  argv: string[],
  handlers: CommandHandlers,
  io: CliIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  let chosen: { name: CommandName; args: string[]; cmd: Command } | undefined;
  const task = argv[0] === 'train' ? TASKS.find((t) => t === argv[1]) : undefined;
  const program = buildProgram(
    (name, args, cmd) => {
      chosen = { name, args, cmd };
    },
    { out: (s) => io.stdout.write(s), err: (s) => io.stderr.write(s) },
    task,
  );
  if (argv.length === 0) {
    program.outputHelp({ error: true });
    return 2;
  }
  if (argv.length === 1 && argv[0] === 'bench') {
    program.commands.find((c) => c.name() === 'bench')!.outputHelp({ error: true });
    return 2;
  }
  const json = argv.includes('--json');
  try {
    if (task) checkTaskOptions(task, argv);
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    return reportError(e, json, io);
  }
  if (!chosen) return 2;
  try {
    const { options, given } = resolveOptions(chosen.name, chosen.cmd);
    if (options.threads !== undefined) setNumThreads(options.threads);
    const reporter = new Reporter({ json: options.json, ...io });
    // handlers[name] takes Invocation<name>: TypeScript cannot relate the two through the union.
    const handler = handlers[chosen.name] as CommandHandler;
    return await handler({ command: chosen.name, args: chosen.args, options, given }, reporter);
  } catch (e) {
    return reportError(e, json, io);
  }
}

function reportError(e: unknown, json: boolean, io: CliIo): number {
  if (e instanceof CliError) {
    io.stderr.write(`${pc.red('error:')} ${e.message}\n`);
    if (json)
      io.stdout.write(
        `${JSON.stringify({ event: 'error', message: e.message, exitCode: e.exitCode })}\n`,
      );
    return e.exitCode;
  }
  const err = e instanceof Error ? e : undefined;
  io.stderr.write(`${pc.red('error:')} ${err?.stack ?? String(e)}\n`);
  if (json)
    io.stdout.write(
      `${JSON.stringify({ event: 'error', message: err?.message ?? String(e), exitCode: 1 })}\n`,
    );
  return 1;
}

/** `train <task>` given an option that only other tasks use: exit 2, saying whose it is. */
function checkTaskOptions(task: TaskName, argv: string[]): void {
  const mine = new Set(optionsOf('train', task).map(([k]) => k));
  for (const arg of argv) {
    if (!arg.startsWith('--')) continue;
    const key = keyOfName(arg.split('=')[0]!);
    const spec = key ? specOf(key) : undefined;
    if (key && spec?.commands.includes('train') && !mine.has(key)) {
      throw new CliError(
        `${spec.flag} is an option of the ${spec.tasks?.join(' and ')} task${spec.tasks && spec.tasks.length > 1 ? 's' : ''}; recur train ${task} does not use it (recur train ${task} --help lists its options)`,
      );
    }
  }
}
