import { describe, expect, it } from 'vitest'
import { BackendUnavailableError, selectBackend } from '../../src/train/backend.js'

// The native packages (@tensorflow/tfjs-node, -gpu) cannot be installed on CI machines without
// internet access; this file checks what happens without them. (Where they are installed, the
// first test is skipped with its reason printed: it is about their absence.)
const nativePackage = '@tensorflow/tfjs-node'
const nativeInstalled = await import(nativePackage).then(
  () => true,
  () => false,
)

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

  it('falls back, under auto, to the best backend that loads and says why it skipped the others', async () => {
    const choice = await selectBackend('auto')
    if (nativeInstalled) {
      expect(choice.backend).toMatch(/^tensorflow/)
      return
    }
    expect(choice.backend).toBe('wasm')
    expect(choice.skipped.map((s) => s.backend)).toEqual(['tensorflow-gpu', 'tensorflow'])
    expect(choice.skipped[0].reason).toContain('@tensorflow/tfjs-node-gpu')
  })

  it('keeps one backend per process and refuses to switch', async () => {
    const first = await selectBackend('auto')
    const other = first.backend === 'cpu' ? 'wasm' : 'cpu'
    await expect(selectBackend(other)).rejects.toThrow(/already uses/)
  })
})
