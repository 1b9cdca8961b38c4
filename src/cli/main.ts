#!/usr/bin/env node
// dtrain command line. Commands are thin: parse, call the library, print.
import '../polyfill.js'
import { Command, InvalidArgumentError, Option } from 'commander'
import { DELTA_ENCODINGS } from '../codec/delta.js'
import { DEFAULT_PROOF_RETENTION } from '../node/node.js'
import { BACKEND_NAMES, type BackendName } from '../train/backend.js'
import { runAudit } from './audit.js'
import { ConfigError } from './config-files.js'
import { runStart } from './start.js'
import { runTestnet } from './testnet.js'

function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < 1)
      throw new InvalidArgumentError(`${name} must be a positive integer (got ${value})`)
    return n
  }
}

function nonNegativeInt(name: string) {
  return (value: string): number => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < 0)
      throw new InvalidArgumentError(`${name} must be a non-negative integer (got ${value})`)
    return n
  }
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value]
}

const backendOption = () =>
  new Option(
    '--backend <name>',
    'tfjs backend; auto tries tensorflow-gpu, tensorflow, wasm, cpu in that order',
  )
    .choices([...BACKEND_NAMES])
    .default('auto')

const program = new Command()
  .name('dtrain')
  .description('Peer-to-peer node for decentralized, low-communication (DiLoCo-style) training')
  .showHelpAfterError()

program
  .command('testnet')
  .description('run a local testnet: N node processes on 127.0.0.1 training together for R rounds')
  .option('--nodes <n>', 'number of nodes', positiveInt('--nodes'), 3)
  .option('--rounds <r>', 'rounds to train', positiveInt('--rounds'), 5)
  .option(
    '--state <dir>',
    'state directory (node i keeps its state in DIR/node-i; default: a new temporary directory)',
  )
  .option('--json', 'print a JSON summary as the last line of stdout (progress goes to stderr)', false)
  .addOption(new Option('--preset <name>', 'model preset').choices(['tiny', 'small']).default('small'))
  .option('--inner-steps <h>', 'inner steps per round (DiLoCo H)', positiveInt('--inner-steps'))
  .option('--batch-size <b>', 'inner batch size', positiveInt('--batch-size'))
  .addOption(
    new Option('--encoding <name>', 'delta encoding (SPEC.md 6)')
      .choices([...DELTA_ENCODINGS])
      .default('fp32'),
  )
  .addOption(
    new Option('--aggregation <rule>', 'aggregation rule')
      .choices(['nnm-trimmed-mean', 'mean', 'median', 'trimmed-mean'])
      .default('nnm-trimmed-mean'),
  )
  .addOption(
    new Option('--dataset <name>', 'training text').choices(['moby-dick', 'synthetic']).default('moby-dick'),
  )
  .option(
    '--start-timeout <s>',
    'seconds each node waits for its peers before round 1',
    positiveInt('--start-timeout'),
    60,
  )
  .option(
    '--private',
    'private network: generate STATE/swarm.key (pre-shared key) and use it on every node',
    false,
  )
  .addOption(backendOption())
  .addHelpText(
    'after',
    '\nExamples:\n  dtrain testnet                          3 nodes, 5 rounds, default model\n  dtrain testnet --nodes 4 --rounds 10 --encoding int8-block --private --state ./tn\n  dtrain testnet --preset tiny --dataset synthetic --rounds 2 --json',
  )
  .action(async (opts) => {
    process.exitCode = await runTestnet({
      nodes: opts.nodes,
      rounds: opts.rounds,
      state: opts.state,
      json: opts.json,
      backend: opts.backend as BackendName,
      startTimeout: opts.startTimeout,
      private: opts.private,
      genesis: {
        preset: opts.preset,
        innerSteps: opts.innerSteps,
        batchSize: opts.batchSize,
        encoding: opts.encoding,
        errorFeedback: opts.errorFeedback,
        aggregation:
          opts.aggregation === 'trimmed-mean'
            ? { rule: 'trimmed-mean', trimFraction: 0.2 }
            : opts.aggregation === 'nnm-trimmed-mean'
              ? { rule: 'nnm-trimmed-mean', faultFraction: 0.2 }
              : { rule: opts.aggregation },
        dataset: opts.dataset,
      },
    })
  })

program
  .command('start')
  .description('run one node of the run defined by a genesis file')
  .requiredOption('--genesis <file>', 'genesis (run definition) JSON file')
  .option('--state <dir>', 'state directory (holds the node key)', './dtrain-state')
  .option('--key <file>', 'node key file (default: STATE/key, created if missing)')
  .addOption(
    new Option('--listen <multiaddr>', 'listen address (repeatable)')
      .argParser(collect)
      .default([], '/ip4/0.0.0.0/tcp/0'),
  )
  .addOption(
    new Option('--bootstrap <multiaddr>', 'bootstrap peer, with /p2p/<peer id> (repeatable)')
      .argParser(collect)
      .default([], 'none'),
  )
  .option('--rounds <r>', 'rounds to train, then stop (0 = until stopped)', nonNegativeInt('--rounds'), 0)
  .option('--swarm-key <file>', 'pre-shared key file of a private network')
  .option('--join', 'join a running network: fetch its committed state before the first round', false)
  .option(
    '--proof-retention <rounds>',
    'rounds of proof-of-learning checkpoints kept in STATE/proofs (served to auditors)',
    positiveInt('--proof-retention'),
    DEFAULT_PROOF_RETENTION,
  )
  .option(
    '--start-timeout <s>',
    'seconds to wait for the expected peers before round 1',
    positiveInt('--start-timeout'),
    60,
  )
  .option(
    '--log-level <level>',
    'log level (trace, debug, info, warn, error)',
    process.env.DTRAIN_LOG_LEVEL ?? 'info',
  )
  .addOption(backendOption())
  .addHelpText(
    'after',
    '\nExamples:\n  dtrain start --genesis run.json --bootstrap /ip4/192.0.2.7/tcp/4001/p2p/12D3KooW...\n  dtrain start --genesis run.json --listen /ip4/0.0.0.0/tcp/4001 --rounds 100',
  )
  .action(async (opts) => {
    process.exitCode = await runStart({
      genesis: opts.genesis,
      state: opts.state,
      key: opts.key,
      listen: opts.listen.length > 0 ? opts.listen : ['/ip4/0.0.0.0/tcp/0'],
      bootstrap: opts.bootstrap,
      rounds: opts.rounds,
      backend: opts.backend as BackendName,
      swarmKey: opts.swarmKey,
      startTimeout: opts.startTimeout,
      logLevel: opts.logLevel,
      proofRetention: opts.proofRetention,
      join: opts.join,
    })
  })

program
  .command('audit')
  .description("check a peer's proof of learning for one round (exit 0 valid, 1 invalid, 2 could not audit)")
  .option(
    '--peer <peer>',
    'the audited peer: a multiaddr ending in /p2p/<id>, or a peer id listed with --bootstrap',
  )
  .option(
    '--proof <dir>',
    "read the proofs from a node's state directory instead (e.g. a testnet's DIR/node-1)",
  )
  .requiredOption('--round <r>', 'round to audit (0-based, as in the logs)', nonNegativeInt('--round'))
  .option(
    '--segments <q>',
    'segments to replay: half the largest updates, the rest at random',
    positiveInt('--segments'),
    2,
  )
  .option(
    '--tolerance <t>',
    "replay tolerance relative to a segment's update: auto (calibrated per backend pair) or a number",
    (value: string): 'auto' | number => {
      if (value === 'auto') return 'auto'
      const n = Number(value)
      if (!(n > 0 && n < 1))
        throw new InvalidArgumentError(`--tolerance must be auto or a number in (0, 1) (got ${value})`)
      return n
    },
    'auto',
  )
  .option('--genesis <file>', 'genesis of the run (with --proof: genesis.json beside or above the directory)')
  .addOption(
    new Option('--bootstrap <multiaddr>', 'known peers, with /p2p/<peer id> (repeatable)')
      .argParser(collect)
      .default([]),
  )
  .option('--swarm-key <file>', 'pre-shared key file of a private network')
  .option('--json', 'print the report as JSON', false)
  .addOption(new Option('--nonce <hex>', 'fix the segment choice (reproduce an audit)').hideHelp())
  .addOption(backendOption())
  .addHelpText(
    'after',
    '\nExamples:\n  dtrain audit --proof ./tn/node-1 --round 3\n  dtrain audit --peer /ip4/192.0.2.7/tcp/4001/p2p/12D3KooW... --round 12 --genesis run.json --segments 4 --json',
  )
  .action(async (opts) => {
    process.exitCode = await runAudit({
      peer: opts.peer,
      proof: opts.proof,
      round: opts.round,
      segments: opts.segments,
      tolerance: opts.tolerance,
      json: opts.json,
      genesis: opts.genesis,
      bootstrap: opts.bootstrap,
      swarmKey: opts.swarmKey,
      backend: opts.backend as BackendName,
      nonce: opts.nonce,
    })
  })

try {
  await program.parseAsync(process.argv)
  // libp2p and tfjs can leave timers and handles behind; a finished command exits.
  process.exit(process.exitCode ?? 0)
} catch (err) {
  if (
    err instanceof ConfigError ||
    (err as Error).name === 'KeyFileError' ||
    (err as Error).name === 'BackendUnavailableError'
  ) {
    process.stderr.write(`dtrain: ${(err as Error).message}\n`)
    process.exit(2)
  }
  throw err
}
