// Runs before every test file (vitest.config.ts): the Promise.withResolvers polyfill that libp2p
// needs on Node 20, and the clean-up of temporary directories (test/fixtures/temp.ts).
import '../src/polyfill.js'
import { afterAll, afterEach } from 'vitest'
import { cleanTempDirs, markFailed } from './fixtures/temp.js'

afterEach((context) => {
  if (context.task.result?.state === 'fail') markFailed()
})
afterAll(() => cleanTempDirs())
