// The options that define a run, shared by `dtrain init` and `dtrain testnet`: they become a
// genesis through defaultGenesis (SPEC.md 3.3).
import { Command, Option } from 'commander'
import { DELTA_ENCODINGS } from '../codec/delta.js'
import { type ConcreteBackend, DEFAULT_ADMITTED_BACKENDS, TRAINING_BACKENDS } from '../train/backend-names.js'
import { textTokensSha256, userText } from '../train/corpus.js'
import { encodeText, GPT_TOKENIZERS, type GptTokenizer } from '../train/tokenizer.js'
import {
  type GenesisOptions,
  MODEL_PRESET_NAMES,
  MODEL_PRESETS,
  type ModelPreset,
  type ModelSpec,
  tokenizerOf,
} from '../wire/genesis.js'
import { ConfigError } from './config-files.js'
import { positiveInt } from './parse.js'

export function addRunOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        '--preset <name>',
        'model preset: tiny (tests), small (CPU), medium, mlp (MNIST digit classifier), mlp-110m (its 110 M-parameter scale drill, torch); GPTs for torch: gpt-tiny (tests), gpt-10m (CPU or GPU), gpt-124m (GPU, GPT-2 small)',
      )
        .choices([...MODEL_PRESET_NAMES])
        .default('small'),
    )
    .option('--inner-steps <h>', 'inner steps per round (DiLoCo H; default 20)', positiveInt('--inner-steps'))
    .option(
      '--batch-size <b>',
      'inner batch size (default 8; 32 for --preset mlp)',
      positiveInt('--batch-size'),
    )
    .addOption(
      new Option('--encoding <name>', 'delta encoding (SPEC.md 6)')
        .choices([...DELTA_ENCODINGS])
        .default('fp32'),
    )
    .option('--no-error-feedback', 'send lossy deltas without error feedback (SPEC.md 6.9)')
    .addOption(
      new Option('--aggregation <rule>', 'aggregation rule')
        .choices(['nnm-trimmed-mean', 'mean', 'median', 'trimmed-mean'])
        .default('nnm-trimmed-mean'),
    )
    .option(
      '--shards <s>',
      "shard the exchange (SPEC.md 18): s shards of the coordinates, each aggregated by --replicas peers; every node then fetches its shards of every delta and the other shards' results instead of every delta",
      positiveInt('--shards'),
    )
    .option(
      '--replicas <r>',
      'aggregators of each shard with --shards (default 2)',
      positiveInt('--replicas'),
    )
    .addOption(
      new Option(
        '--dataset <name>',
        'training data (default: moby-dick; mnist for --preset mlp; synthetic fits every preset)',
      ).choices(['moby-dick', 'synthetic', 'mnist']),
    )
    .addOption(
      new Option(
        '--tokenizer <name>',
        "a GPT preset's tokens: bytes (UTF-8, 256) or gpt2 (GPT-2's BPE, 50,257); default: the preset's",
      ).choices([...GPT_TOKENIZERS]),
    )
    .addOption(
      new Option(
        '--precision <p>',
        'bf16: nodes on torch-cuda train under bf16 autocast (fp32 weights and AdamW state); others train fp32',
      )
        .choices(['fp32', 'bf16'])
        .default('fp32'),
    )
    .option(
      '--data <path>',
      'train on your own text instead: a file, or a folder of .txt/.md files (every node needs a copy)',
    )
    .option(
      '--checkpoint-interval <k>',
      'inner steps between proof checkpoints (SPEC.md 17.1): fewer checkpoints take less disk, and each audited segment replays k steps; default: about 25 a round, fewer where a round of proof would pass 12 GB',
      positiveInt('--checkpoint-interval'),
    )
    .option(
      '--proof-backends <list>',
      `training backends the run admits, comma-separated, or all (SPEC.md 17.6: an auditor grants a proof the replay tolerance of its backend, so a run admits only those it trusts); default ${DEFAULT_ADMITTED_BACKENDS.join(',')}`,
      DEFAULT_ADMITTED_BACKENDS.join(','),
    )
}

/** --proof-backends: a list of training backends, or all (undefined: the genesis names none). */
function proofBackendsFrom(value: unknown): ConcreteBackend[] | undefined {
  if (value === undefined || value === 'all') return undefined
  const list = String(value)
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '')
  const unknown = list.filter((b) => !(TRAINING_BACKENDS as readonly string[]).includes(b))
  if (list.length === 0 || unknown.length > 0)
    throw new ConfigError(
      `--proof-backends must list training backends (${TRAINING_BACKENDS.join(', ')}) or be all (got ${unknown.length > 0 ? unknown.join(', ') : 'nothing'})`,
    )
  return [...new Set(list)] as ConcreteBackend[]
}

/**
 * The run options above that the user set (on the command line or by environment), as flags: a
 * command given a genesis file refuses them, since the file fixes the run. `--data` is not among
 * them: it is the node's copy of a text run's data, not a field of the genesis.
 */
export function runOptionsGiven(command: Command): string[] {
  const runFlags = new Set(addRunOptions(new Command()).options.map((option) => option.long))
  runFlags.delete('--data')
  return command.options
    .filter((option) => runFlags.has(option.long))
    .filter((option) => {
      const source = command.getOptionValueSource(option.attributeName())
      return source === 'cli' || source === 'env'
    })
    .map((option) => option.long as string)
}

/** The genesis options the run options above stand for. */
export function genesisOptionsFrom(opts: Record<string, unknown>): GenesisOptions {
  const shards = opts.shards as number | undefined
  if (opts.replicas !== undefined && shards === undefined)
    throw new ConfigError('--replicas sets the aggregators of each shard: it needs --shards')
  const rule = opts.aggregation as string
  // Own text: the genesis names it by the hash of its tokens, and each node reads its own copy.
  // The tokens are the genesis model's: characters, bytes or GPT-2 BPE (SPEC.md 7.1, 7.8).
  const preset = (opts.preset ?? 'small') as ModelPreset
  const model = MODEL_PRESETS[preset]
  if (opts.tokenizer !== undefined && model.kind !== 'gpt')
    throw new ConfigError(
      `--tokenizer applies to the GPT presets (gpt-tiny, gpt-10m, gpt-124m), not ${preset}`,
    )
  const tokenizer =
    (opts.tokenizer as GptTokenizer | undefined) ??
    tokenizerOf({ ...model, initSeed: '-' } as ModelSpec) ??
    'chars'
  const text =
    typeof opts.data === 'string'
      ? { dataset: 'text' as const, textSha256: textTokensSha256(encodeText(userText(opts.data), tokenizer)) }
      : { dataset: opts.dataset as GenesisOptions['dataset'] }
  return {
    preset,
    tokenizer: opts.tokenizer as GptTokenizer | undefined,
    precision: opts.precision as 'fp32' | 'bf16' | undefined,
    innerSteps: opts.innerSteps as number | undefined,
    batchSize: opts.batchSize as number | undefined,
    encoding: opts.encoding as GenesisOptions['encoding'],
    errorFeedback: opts.errorFeedback as boolean,
    aggregation:
      rule === 'trimmed-mean'
        ? { rule: 'trimmed-mean', trimFraction: 0.2 }
        : rule === 'nnm-trimmed-mean'
          ? { rule: 'nnm-trimmed-mean', faultFraction: 0.2 }
          : { rule: rule as 'mean' | 'median' },
    proofBackends: proofBackendsFrom(opts.proofBackends),
    exchange:
      shards === undefined ? undefined : { shards, replicas: (opts.replicas as number | undefined) ?? 2 },
    checkpointInterval: opts.checkpointInterval as number | undefined,
    ...text,
  }
}
