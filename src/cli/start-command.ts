// The options of `dtrain start`, each also settable by a DTRAIN_* environment variable and by the
// --config file (merged by resolveNodeConfig, src/cli/node-config.ts).
import { type Command, Option } from 'commander'
import { RELAY_CLIENT_MODES } from '../net/relay-modes.js'
import { DEFAULT_PROOF_RETENTION } from '../node/options.js'
import { BACKEND_HELP, BACKEND_NAMES } from '../train/backend-names.js'
import { envName } from './node-config.js'
import {
  atLeastOne,
  byteRate,
  collect,
  collectReplacing,
  nonNegativeInt,
  positiveInt,
  positiveNumber,
} from './parse.js'

/** Every interface: a home node must be reachable from its peers. */
const DEFAULT_LISTEN: readonly string[] = ['/ip4/0.0.0.0/tcp/0']

/** A start option that can also come from the environment (DTRAIN_*) and the config file. */
const nodeOption = (flags: string, description: string, field: string) =>
  new Option(flags, description).env(envName(field))

export function addStartOptions(command: Command): Command {
  return command
    .description(
      'run one node of the run defined by a genesis file (flags > DTRAIN_* environment > --config file)',
    )
    .addOption(
      new Option('--config <file>', 'node config file (JSON, the fields below in camelCase)').env(
        'DTRAIN_CONFIG',
      ),
    )
    .addOption(nodeOption('--genesis <file>', 'genesis (run definition) JSON file; required', 'genesis'))
    .addOption(
      nodeOption('--state <dir>', 'state directory: key, state, proofs, round log', 'state').default(
        './dtrain-state',
      ),
    )
    .addOption(nodeOption('--key <file>', 'node key file (default: STATE/key, created if missing)', 'key'))
    .addOption(
      nodeOption('--listen <multiaddr>', 'listen address (repeatable; comma-separated in env)', 'listen')
        .argParser(collectReplacing(DEFAULT_LISTEN))
        .default(DEFAULT_LISTEN),
    )
    .addOption(
      nodeOption('--bootstrap <multiaddr>', 'bootstrap peer, with /p2p/<peer id> (repeatable)', 'bootstrap')
        .argParser(collect)
        .default([]),
    )
    .addOption(
      nodeOption('--rounds <r>', 'train until the run has completed r rounds (0 = until stopped)', 'rounds')
        .argParser(nonNegativeInt('--rounds'))
        .default(0),
    )
    .addOption(
      nodeOption(
        '--data <path>',
        'this node\'s copy of the run\'s own text (genesis dataset "text")',
        'data',
      ),
    )
    .addOption(
      nodeOption(
        '--train-workers <n>',
        'training worker threads: auto (one per micro-batch, up to the CPU cores, on wasm/cpu) or a number; 1 = main thread',
        'trainWorkers',
      )
        .argParser((v: string) => (v === 'auto' ? 'auto' : positiveInt('--train-workers')(v)))
        .default('auto'),
    )
    .addOption(
      nodeOption(
        '--allow <peer id>',
        'allowlist: only these peers may connect and author gossip (repeatable; comma-separated in env)',
        'allow',
      ).argParser(collect),
    )
    .addOption(nodeOption('--swarm-key <file>', 'pre-shared key file of a private network', 'swarmKey'))
    .addOption(
      nodeOption(
        '--relay-client <mode>',
        'reserve a slot on a relay: auto (when AutoNAT confirms no public address), always, off',
        'relayClient',
      )
        .choices([...RELAY_CLIENT_MODES])
        .default('auto'),
    )
    .addOption(
      nodeOption(
        '--relay-server <mode>',
        'relay for peers behind NATs: auto (on for a node without bootstrap peers), on, off',
        'relayServer',
      )
        .choices(['auto', 'on', 'off'])
        .default('auto'),
    )
    .addOption(
      nodeOption(
        '--upload-limit <rate>',
        'most bytes per second uploaded serving deltas, e.g. 2.5M (K, M, G: 1000s; default unlimited)',
        'uploadLimit',
      ).argParser(byteRate('--upload-limit')),
    )
    .addOption(
      nodeOption(
        '--shard-checks <c>',
        'in a sharded run (SPEC.md 18.5): shard results checked against the deltas each round, each costing about one 256 KiB chunk of every delta (default 2)',
        'shardChecks',
      ).argParser(positiveInt('--shard-checks')),
    )
    .addOption(
      nodeOption(
        '--upnp',
        "ask the LAN's UPnP gateway to forward the listening port (opt-in; relays work without it)",
        'upnp',
      ).default(false),
    )
    .addOption(
      nodeOption('--mdns', "find the run's peers on the LAN by multicast DNS", 'mdns').default(false),
    )
    .addOption(
      nodeOption(
        '--join',
        'join a running network: fetch its committed state before the first round',
        'join',
      ).default(false),
    )
    .addOption(
      nodeOption(
        '--proof-retention <rounds>',
        'rounds of proof-of-learning checkpoints kept in STATE/proofs',
        'proofRetention',
      )
        .argParser(positiveInt('--proof-retention'))
        .default(DEFAULT_PROOF_RETENTION),
    )
    .addOption(
      nodeOption(
        '--api <host:port>',
        'HTTP endpoint: status page at /, Prometheus at /metrics; off to disable',
        'api',
      ).default('127.0.0.1:7464'),
    )
    .addOption(
      nodeOption(
        '--start-timeout <s>',
        'seconds to wait for the expected peers before round 1',
        'startTimeout',
      )
        .argParser(positiveInt('--start-timeout'))
        .default(60),
    )
    .addOption(
      nodeOption(
        '--log-level <level>',
        'log level: trace, debug, info, warn, error (default: info; warn on a terminal)',
        'logLevel',
      ),
    )
    .addOption(
      nodeOption(
        '--slowdown <factor>',
        'drills only: train this many times slower than this machine can, to play a straggler',
        'slowdown',
      )
        .argParser(atLeastOne('--slowdown'))
        .default(1),
    )
    .addOption(
      nodeOption(
        '--gpu-peak-tflops <n>',
        "the GPU's dense peak (TFLOPS) for the MFU figure on torch-cuda and tensorflow-gpu (default: looked up by the GPU's name)",
        'gpuPeakTflops',
      ).argParser(positiveNumber('--gpu-peak-tflops')),
    )
    .addOption(
      new Option('--backend <name>', BACKEND_HELP)
        .choices([...BACKEND_NAMES])
        .default('auto')
        .env(envName('backend')),
    )
    .addOption(
      nodeOption(
        '--python <path>',
        'the Python of the torch backends (default: python3 on PATH, then /usr/bin/python3)',
        'python',
      ),
    )
    .addOption(
      nodeOption(
        '--train-threads <n>',
        "torch's CPU threads (default: one per core)",
        'trainThreads',
      ).argParser(positiveInt('--train-threads')),
    )

    .addHelpText(
      'after',
      '\nExamples:\n  dtrain start --genesis run.json --bootstrap /ip4/192.0.2.7/tcp/4001/p2p/12D3KooW...\n  dtrain start --genesis run.json --listen /ip4/0.0.0.0/tcp/4001 --rounds 100\n  DTRAIN_STATE=/var/lib/dtrain dtrain start --config node.json',
    )
}
