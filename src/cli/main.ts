#!/usr/bin/env node
// dtrain command line. Commands are thin: parse, call the library, print.
import '../polyfill.js'
import { resolve } from 'node:path'
import { Command, InvalidArgumentError, Option } from 'commander'
import { MIN_SEGMENTS } from '../proof/tolerance.js'
import { BACKEND_HELP, BACKEND_NAMES, type BackendName } from '../train/backend-names.js'
import { ConfigError } from './config-files.js'
import { resolveNodeConfig } from './node-config.js'
import { collect, collectReplacing, nonNegativeInt, positiveInt } from './parse.js'
import { addRunOptions, genesisOptionsFrom, runOptionsGiven } from './run-options.js'
import { addStartOptions } from './start-command.js'

const backendOption = () =>
  new Option('--backend <name>', BACKEND_HELP).choices([...BACKEND_NAMES]).default('auto')
const pythonOption = () =>
  new Option('--python <path>', 'the Python of the torch backends (default: python3, then /usr/bin/python3)')

const program = new Command()
  .name('dtrain')
  .description('Peer-to-peer node for decentralized, low-communication (DiLoCo-style) training')
  .showHelpAfterError()

addRunOptions(
  program
    .command('init')
    .description(
      "create a run: genesis, the first node's key, a swarm key; print the commands to start and join",
    )
    .option('--dir <dir>', 'directory of the run', './dtrain-run')
    .option('--name <name>', 'name of the run', 'dtrain-run')
    .option('--nodes <n>', 'number of nodes expected in each round', positiveInt('--nodes'), 3)
    .option('--port <port>', 'TCP port the first node listens on', positiveInt('--port'), 4001)
    .option(
      '--rounds <r>',
      'planned rounds: the inner learning rate decays on a cosine over them (default: constant after warmup)',
      positiveInt('--rounds'),
    )
    .option('--private', 'private network: create DIR/swarm.key (pre-shared key)', false)
    .option('--force', 'replace an existing genesis in DIR', false)
    .option('--json', 'print the result as JSON', false),
)
  .addHelpText(
    'after',
    '\nExamples:\n  dtrain init --dir ./myrun --nodes 4 --private\n  dtrain init --preset tiny --inner-steps 50 --encoding int8-block',
  )
  .action(async (opts) => {
    process.exitCode = await (await import('./init.js')).runInit({
      dir: opts.dir,
      name: opts.name,
      nodes: opts.nodes,
      port: opts.port,
      private: opts.private,
      force: opts.force,
      json: opts.json,
      dataPath: opts.data ? resolve(opts.data) : undefined,
      genesis: { ...genesisOptionsFrom(opts), plannedRounds: opts.rounds },
    })
  })

program
  .command('keys')
  .description('create a node identity (Ed25519 key file, mode 0600) or show its peer id')
  .option('--key <file>', 'key file (created if missing)', './dtrain-state/key')
  .option('--json', 'print the result as JSON', false)
  .addHelpText('after', '\nExamples:\n  dtrain keys\n  dtrain keys --key ./node-1/key')
  .action(async (opts) => {
    process.exitCode = await (await import('./keys.js')).runKeys({ key: opts.key, json: opts.json })
  })

addRunOptions(
  program
    .command('testnet')
    .description('run a local testnet: N node processes on 127.0.0.1 training together for R rounds')
    .option('--nodes <n>', 'number of nodes', positiveInt('--nodes'), 3)
    .option('--rounds <r>', 'rounds to train', positiveInt('--rounds'), 5)
    .option(
      '--state <dir>',
      'state directory (node i keeps its state in DIR/node-i; default: a new temporary directory)',
    )
    .option('--json', 'print a JSON summary as the last line of stdout (progress goes to stderr)', false),
)
  .option(
    '--genesis <file>',
    "run this genesis (dtrain init's, edited) instead of one made from the run options, which it then refuses; --nodes defaults to its round.expectedPeers",
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
  .option(
    '--proof-retention <rounds>',
    'rounds of proof-of-learning checkpoints each node keeps (62 MB per round with the default model)',
    positiveInt('--proof-retention'),
    2,
  )
  .addOption(backendOption())
  .addOption(pythonOption())
  .option(
    '--train-threads <n>',
    "torch's CPU threads per node (default: the cores shared among the nodes)",
    positiveInt('--train-threads'),
  )
  .addHelpText(
    'after',
    '\nExamples:\n  dtrain testnet                          3 nodes, 5 rounds, default model\n  dtrain testnet --nodes 4 --rounds 10 --encoding int8-block --private --state ./tn\n  dtrain testnet --preset tiny --dataset synthetic --rounds 2 --json\n  dtrain testnet --genesis ./myrun/genesis.json --rounds 3',
  )
  .action(async (opts, command: Command) => {
    if (opts.genesis !== undefined) {
      const given = runOptionsGiven(command)
      if (given.length > 0)
        throw new ConfigError(
          `--genesis ${opts.genesis} fixes the run, so ${given.join(', ')} cannot change it: drop ${given.length === 1 ? 'it' : 'them'}, or edit the genesis file`,
        )
    }
    process.exitCode = await (await import('./testnet.js')).runTestnet({
      nodes:
        opts.genesis !== undefined && command.getOptionValueSource('nodes') === 'default'
          ? undefined
          : opts.nodes,
      genesisFile: opts.genesis === undefined ? undefined : resolve(opts.genesis),
      rounds: opts.rounds,
      state: opts.state,
      json: opts.json,
      backend: opts.backend as BackendName,
      python: opts.python,
      trainThreads: opts.trainThreads,
      startTimeout: opts.startTimeout,
      private: opts.private,
      genesis: opts.genesis === undefined ? genesisOptionsFrom(opts) : {},
      dataPath: opts.data ? resolve(opts.data) : undefined,
      proofRetention: opts.proofRetention,
    })
  })

const RELAY_LISTEN = ['/ip4/0.0.0.0/tcp/4002']

program
  .command('relay')
  .description(
    "serve a run as relay and rendezvous peer for nodes behind NATs (circuit relay v2, the run's DHT, AutoNAT); no training",
  )
  .requiredOption('--genesis <file>', "the run's genesis (names the run's DHT)")
  .option('--key <file>', 'key file of the relay identity (created if missing)', './dtrain-relay/key')
  .option('--listen <multiaddr>', 'listen address (repeatable)', collectReplacing(RELAY_LISTEN), RELAY_LISTEN)
  .option('--swarm-key <file>', 'pre-shared key file of a private network')
  .option('--allow <peer id>', 'allowlist: relay for these peers only (repeatable)', collect)
  .option('--log-level <level>', 'log level: trace, debug, info, warn, error', 'info')
  .option('--json', 'print the peer id and addresses as JSON', false)
  .addHelpText(
    'after',
    '\nExamples:\n  dtrain relay --genesis ./myrun/genesis.json --listen /ip4/0.0.0.0/tcp/4002\n  dtrain start --genesis genesis.json --bootstrap /ip4/203.0.113.5/tcp/4002/p2p/12D3KooW...',
  )
  .action(async (opts) => {
    process.exitCode = await (await import('./relay.js')).runRelay({
      genesis: opts.genesis,
      key: opts.key,
      listen: opts.listen,
      swarmKey: opts.swarmKey,
      allow: opts.allow,
      logLevel: opts.logLevel,
      json: opts.json,
    })
  })

const start = addStartOptions(program.command('start')).action(async () => {
  process.exitCode = await (await import('./start.js')).runStart(await resolveNodeConfig(start))
})

program
  .command('status')
  .description("print a running node's state (round, phase, peers, last losses)")
  .option('--api <url>', "the node's HTTP endpoint (its --api)", '127.0.0.1:7464')
  .option('--json', 'print the status as JSON', false)
  .addHelpText('after', '\nExamples:\n  dtrain status\n  dtrain status --api 127.0.0.1:7465 --json')
  .action(async (opts) => {
    process.exitCode = await (await import('./status.js')).runStatus({ api: opts.api, json: opts.json })
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
    'segments to replay (at least 2): half the largest updates, the rest at random',
    (value: string): number => {
      const q = Number(value)
      if (!(Number.isInteger(q) && q >= MIN_SEGMENTS))
        throw new InvalidArgumentError(
          `--segments must be an integer of at least ${MIN_SEGMENTS} (got ${value}): one segment would be the largest update, which the prover can shape in advance`,
        )
      return q
    },
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
  .option(
    '--deadline <seconds>',
    'once the peer served the manifest, what it committed to and has not delivered within this long fails the proof (withheld)',
    positiveInt('--deadline'),
    600,
  )
  .option(
    '--record <dir>',
    'state directory of a node of the run (default with --proof: that directory): its rounds.jsonl names the delta the peer announced to the network, which the audited proof must be of (a proof of another delta is proof equivocation); without one the audit cannot be VALID',
  )
  .option('--genesis <file>', 'genesis of the run (with --proof: genesis.json beside or above the directory)')
  .addOption(
    new Option('--bootstrap <multiaddr>', 'known peers, with /p2p/<peer id> (repeatable)')
      .argParser(collect)
      .default([]),
  )
  .option('--swarm-key <file>', 'pre-shared key file of a private network')
  .option('--json', 'print the report as JSON', false)
  .option('--data <path>', "the run's own text, when its genesis trains on one")
  .addOption(new Option('--nonce <hex>', 'fix the segment choice (reproduce an audit)').hideHelp())
  .addOption(backendOption())
  .addOption(pythonOption())
  .addHelpText(
    'after',
    '\nExamples:\n  dtrain audit --proof ./tn/node-1 --round 3\n  dtrain audit --peer /ip4/192.0.2.7/tcp/4001/p2p/12D3KooW... --round 12 --genesis run.json --record /var/lib/dtrain --segments 4 --json',
  )
  .action(async (opts) => {
    process.exitCode = await (await import('./audit.js')).runAudit({
      peer: opts.peer,
      proof: opts.proof,
      record: opts.record,
      round: opts.round,
      segments: opts.segments,
      tolerance: opts.tolerance,
      deadline: opts.deadline,
      json: opts.json,
      genesis: opts.genesis,
      bootstrap: opts.bootstrap,
      swarmKey: opts.swarmKey,
      backend: opts.backend as BackendName,
      python: opts.python,
      nonce: opts.nonce,
      dataPath: opts.data,
    })
  })

try {
  await program.parseAsync(process.argv)
  // libp2p and tfjs can leave timers and handles behind; a finished command exits.
  process.exit(process.exitCode ?? 0)
} catch (err) {
  if (
    err instanceof ConfigError ||
    [
      'KeyFileError',
      'CorpusError',
      'BackendUnavailableError',
      'ApiListenError',
      'NodeStateError',
      'StatusUnavailableError',
      'InsufficientMemoryError',
      'StartupError',
      'ListenError',
      'TorchWorkerError',
      'StateDirError',
      'DiskFullError',
    ].includes((err as Error).name)
  ) {
    process.stderr.write(`dtrain: ${(err as Error).message}\n`)
    process.exit(2)
  }
  throw err
}
