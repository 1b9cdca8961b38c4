import { generateKeyPair } from '@libp2p/crypto/keys'
import { createLogger, silentLogger } from '../../src/log.js'

const logger = () =>
  process.env.DTRAIN_TEST_LOG ? createLogger(process.env.DTRAIN_TEST_LOG) : silentLogger()

import { DtrainNode } from '../../src/node/node.js'
import type { Genesis } from '../../src/wire/genesis.js'

/** Starts `count` real nodes on 127.0.0.1; node 0 is the others' bootstrap peer. */
export async function startNodes(genesis: Genesis, count: number): Promise<DtrainNode[]> {
  const first = await DtrainNode.create({
    genesis,
    privateKey: await generateKeyPair('Ed25519'),
    logger: logger(),
    backend: 'auto',
  })
  const nodes = [first]
  for (let i = 1; i < count; i++) {
    nodes.push(
      await DtrainNode.create({
        genesis,
        privateKey: await generateKeyPair('Ed25519'),
        bootstrap: first.addresses(),
        logger: logger(),
        backend: 'auto',
      }),
    )
  }
  return nodes
}
