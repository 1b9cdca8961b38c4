import { describe, expect, it } from 'vitest'
import { BackendUnavailableError, selectBackend } from '../../src/train/backend.js'
import { findTorch } from '../../src/train/python.js'

// The native packages (@tensorflow/tfjs-node, -gpu) cannot be installed on CI machines without
// internet access; this file checks what happens without them. (Where they are installed, the
// first test is skipped with its reason printed: it is about their absence.)
const nativePackage = '@tensorflow/tfjs-node'
const nativeInstalled = await import(nativePackage).then(
  () => true,
  () => false,
)
const torch = (await findTorch()).found

describe('backend selection', () => {
  it.skipIf(nativeInstalled)(
    'names the missing package and how to install it when asked for tensorflow',
    async () => {
      const err = await selectBackend('tensorflow').catch((e: unknown) => e)
      expect(err).toBeInstanceOf(BackendUnavailableError)
      expect((err as Error).message).toContain('@tensorflow/tfjs-node')
      expect((err as Error).message).toContain('npm install @tensorflow/tfjs-node')
    },
  )

  it('tries, under auto, torch-cuda, tensorflow-gpu, torch-cpu, tensorflow, wasm in order and says why it skipped each', async () => {
    const choice = await selectBackend('auto')
    const skipped = choice.skipped.map((s) => s.backend)
    if (torch?.cuda) {
      expect(choice.backend).toBe('torch-cuda')
      expect(skipped).toEqual([])
    } else if (torch) {
      // a machine with PyTorch and no GPU (CI installs Debian's python3-torch)
      expect(choice.backend).toBe('torch-cpu')
      expect(choice.torch?.torch).toBe(torch.torch)
      expect(skipped).toEqual(['torch-cuda', 'tensorflow-gpu'])
      expect(choice.skipped[0].reason).toMatch(/no CUDA device/)
    } else if (!nativeInstalled) {
      expect(choice.backend).toBe('wasm')
      expect(skipped).toEqual(['torch-cuda', 'tensorflow-gpu', 'torch-cpu', 'tensorflow'])
      expect(choice.skipped[2].reason).toMatch(/torch missing|not found/)
    }
    expect(choice.skipped.find((s) => s.backend === 'tensorflow-gpu')?.reason).toContain(
      '@tensorflow/tfjs-node-gpu',
    )
  })

  it('falls back to tfjs-wasm under auto where no Python has torch, and says why for each torch backend', async () => {
    const choice = await selectBackend('auto', { python: '/nonexistent/python3' })
    if (nativeInstalled) return
    expect(choice.backend).toBe('wasm')
    expect(choice.skipped.map((s) => s.backend)).toEqual([
      'torch-cuda',
      'tensorflow-gpu',
      'torch-cpu',
      'tensorflow',
    ])
    for (const s of choice.skipped.filter((x) => x.backend.startsWith('torch')))
      expect(s.reason).toBe('/nonexistent/python3: not found')
  })

  it('names the fix when a forced torch backend cannot load', async () => {
    const err = await selectBackend('torch-cpu', { python: '/nonexistent/python3' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(BackendUnavailableError)
    expect((err as Error).message).toContain('/nonexistent/python3: not found')
    expect((err as Error).message).toContain('apt-get install python3-torch libopenblas0-pthread')
    expect((err as Error).message).toContain('--python')
  })

  it.skipIf(torch?.cuda)('refuses torch-cuda where torch sees no CUDA device, and says so', async () => {
    const err = await selectBackend('torch-cuda').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(BackendUnavailableError)
    expect((err as Error).message).toMatch(torch ? /no CUDA device/ : /torch missing|not found/)
  })

  it('keeps one tfjs backend per process and refuses to switch', async () => {
    await selectBackend('wasm')
    await expect(selectBackend('cpu')).rejects.toThrow(/already uses/)
  })

  it('skips under auto the backends the run does not admit, and refuses one asked for by name', async () => {
    const choice = await selectBackend('auto', { admitted: ['wasm', 'cpu'] })
    expect(['wasm', 'cpu']).toContain(choice.backend)
    for (const s of choice.skipped.filter((x) =>
      ['torch-cuda', 'tensorflow-gpu', 'torch-cpu', 'tensorflow'].includes(x.backend),
    ))
      expect(s.reason).toBe('the run admits proofs trained on wasm, cpu only (genesis proof.backends)')
    const err = await selectBackend('torch-cpu', { admitted: ['wasm', 'cpu'] }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(BackendUnavailableError)
    expect((err as Error).message).toBe(
      'backend torch-cpu cannot be used: the run admits proofs trained on wasm, cpu only (genesis proof.backends)',
    )
  })
})
