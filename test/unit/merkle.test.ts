import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { sha256, toHex } from '../../src/crypto/hash.js'
import {
  checkedByLeaves,
  InvalidProofError,
  leafHash,
  MerkleTree,
  nodeHash,
  verifyProof,
} from '../../src/crypto/merkle.js'

/** RFC 9162 2.1.1, written recursively, as the reference for the bottom-up implementation. */
function referenceRoot(leaves: Uint8Array[]): Uint8Array {
  if (leaves.length === 1) return leaves[0]
  let k = 1
  while (k * 2 < leaves.length) k *= 2
  return nodeHash(referenceRoot(leaves.slice(0, k)), referenceRoot(leaves.slice(k)))
}

const leaves = (n: number) => Array.from({ length: n }, (_, i) => leafHash(new Uint8Array([i, i >> 8])))

describe('Merkle tree (RFC 9162)', () => {
  it('has the root of the recursive definition for 1 to 70 leaves', () => {
    for (let n = 1; n <= 70; n++)
      expect(toHex(MerkleTree.fromLeaves(leaves(n)).root)).toBe(toHex(referenceRoot(leaves(n))))
  })

  it('separates leaves from nodes (0x00 and 0x01 prefixes)', () => {
    const data = new Uint8Array([1, 2, 3])
    expect(toHex(leafHash(data))).toBe(toHex(sha256(new Uint8Array([0, 1, 2, 3]))))
    expect(toHex(MerkleTree.fromBytes(data, 2).root)).toBe(
      toHex(sha256(new Uint8Array([1]), leafHash(new Uint8Array([1, 2])), leafHash(new Uint8Array([3])))),
    )
  })

  it('proves every leaf of trees of 1 to 40 leaves, and no proof verifies for another leaf or index', () => {
    for (let n = 1; n <= 40; n++) {
      const ls = leaves(n)
      const tree = MerkleTree.fromLeaves(ls)
      for (let i = 0; i < n; i++) {
        const proof = tree.proof(i)
        verifyProof(tree.root, n, i, ls[i], proof)
        expect(() => verifyProof(tree.root, n, i, leafHash(new Uint8Array([255, 255, 255])), proof)).toThrow(
          InvalidProofError,
        )
        if (n > 1)
          expect(() => verifyProof(tree.root, n, (i + 1) % n, ls[i], proof)).toThrow(InvalidProofError)
      }
    }
  })

  it('rejects truncated, extended and corrupted proofs and out-of-range indices', () => {
    const ls = leaves(13)
    const tree = MerkleTree.fromLeaves(ls)
    const proof = tree.proof(5)
    expect(() => verifyProof(tree.root, 13, 5, ls[5], proof.slice(1))).toThrow(InvalidProofError)
    expect(() => verifyProof(tree.root, 13, 5, ls[5], [...proof, proof[0]])).toThrow(InvalidProofError)
    const corrupted = proof.map((p) => new Uint8Array(p))
    corrupted[1][0] ^= 1
    expect(() => verifyProof(tree.root, 13, 5, ls[5], corrupted)).toThrow(InvalidProofError)
    expect(() => verifyProof(tree.root, 13, 13, ls[5], proof)).toThrow(InvalidProofError)
    expect(() => verifyProof(tree.root, 13, -1, ls[5], proof)).toThrow(InvalidProofError)
    expect(() => verifyProof(tree.root, 13, 5, ls[5], [new Uint8Array(31)])).toThrow(InvalidProofError)
  })

  it('cuts bytes into chunks, the last one shorter', () => {
    const bytes = new Uint8Array(randomBytes(1000))
    const tree = MerkleTree.fromBytes(bytes, 300)
    expect(tree.leafCount).toBe(4)
    verifyProof(tree.root, 4, 3, leafHash(bytes.subarray(900)), tree.proof(3))
  })
})

describe('reading an object by range, checked against its leaves (checkedByLeaves)', () => {
  const bytes = randomBytes(10 * 64 + 17)
  const tree = MerkleTree.fromBytes(bytes, 64)
  const mismatch = (i: number) => new Error(`chunk ${i}`)

  it('returns exactly the bytes asked for, across and within chunks', () => {
    const source = checkedByLeaves(bytes, tree, 64, mismatch)
    for (const [start, end] of [
      [0, bytes.length],
      [63, 65],
      [64, 128],
      [100, 101],
      [640, 657],
      [5, 5],
      [657, 657],
    ])
      expect(Buffer.from(source.subarray(start, end)).equals(bytes.subarray(start, end))).toBe(true)
  })

  it('refuses a read that touches a changed chunk, and nothing else', () => {
    const changed = Buffer.from(bytes)
    changed[3 * 64 + 5] ^= 1
    const source = checkedByLeaves(changed, tree, 64, mismatch)
    expect(() => source.subarray(190, 200)).toThrow('chunk 3')
    expect(() => source.subarray(0, bytes.length)).toThrow('chunk 3')
    expect(Buffer.from(source.subarray(0, 192)).equals(bytes.subarray(0, 192))).toBe(true)
    expect(Buffer.from(source.subarray(256, 300)).equals(bytes.subarray(256, 300))).toBe(true)
  })

  it('refuses bytes of another size than the tree, and reads out of range', () => {
    expect(() => checkedByLeaves(bytes.subarray(0, 600), tree, 64, mismatch)).toThrow('chunk -1')
    const source = checkedByLeaves(bytes, tree, 64, mismatch)
    expect(() => source.subarray(0, bytes.length + 1)).toThrow(RangeError)
    expect(() => source.subarray(10, 5)).toThrow(RangeError)
  })
})
