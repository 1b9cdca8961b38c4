import { decodeMessage, encodeMessage, enumeration, MaxLengthError, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export enum DeltaEncoding {
  FP32 = 'FP32',
  INT8_BLOCK = 'INT8_BLOCK',
  FP16 = 'FP16',
  INT4_BLOCK = 'INT4_BLOCK',
  TOP_K = 'TOP_K',
  SPARSE_2BIT = 'SPARSE_2BIT'
}

enum __DeltaEncodingValues {
  FP32 = 0,
  INT8_BLOCK = 1,
  FP16 = 2,
  INT4_BLOCK = 3,
  TOP_K = 4,
  SPARSE_2BIT = 5
}

export namespace DeltaEncoding {
  export const codec = (): Codec<DeltaEncoding> => {
    return enumeration<DeltaEncoding>(__DeltaEncodingValues)
  }
}

export interface Signed {
  body: Uint8Array<ArrayBuffer>
  signature: Uint8Array<ArrayBuffer>
}

export namespace Signed {
  let _codec: Codec<Signed>

  export const codec = (): Codec<Signed> => {
    if (_codec == null) {
      _codec = message<Signed>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.body != null && obj.body.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.body)
        }

        if ((obj.signature != null && obj.signature.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.signature)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          body: uint8ArrayAlloc(0),
          signature: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.body = reader.bytes()
              break
            }
            case 2: {
              obj.signature = reader.bytes()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.body`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.signature`,
                value: reader.bytes()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface SignedBodyFieldEvent {
    field: '$.body'
    value: Uint8Array<ArrayBuffer>
  }

  export interface SignedSignatureFieldEvent {
    field: '$.signature'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<Signed>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Signed.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Signed>): Signed {
    return decodeMessage(buf, Signed.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Signed>): Generator<SignedBodyFieldEvent | SignedSignatureFieldEvent> {
    return streamMessage(buf, Signed.codec(), opts)
  }
}

export interface DeltaAnnouncement {
  version: number
  runId: Uint8Array<ArrayBuffer>
  round: bigint
  peerId: Uint8Array<ArrayBuffer>
  baseHash: Uint8Array<ArrayBuffer>
  deltaHash: Uint8Array<ArrayBuffer>
  encodedSize: bigint
  encoding: DeltaEncoding
  trainLoss: number
  sampleCount: bigint
  proofRoot: Uint8Array<ArrayBuffer>
}

export namespace DeltaAnnouncement {
  let _codec: Codec<DeltaAnnouncement>

  export const codec = (): Codec<DeltaAnnouncement> => {
    if (_codec == null) {
      _codec = message<DeltaAnnouncement>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.version != null && obj.version !== 0)) {
          w.uint32(8)
          w.uint32(obj.version)
        }

        if ((obj.runId != null && obj.runId.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.runId)
        }

        if ((obj.round != null && obj.round !== 0n)) {
          w.uint32(24)
          w.uint64(obj.round)
        }

        if ((obj.peerId != null && obj.peerId.byteLength > 0)) {
          w.uint32(34)
          w.bytes(obj.peerId)
        }

        if ((obj.baseHash != null && obj.baseHash.byteLength > 0)) {
          w.uint32(42)
          w.bytes(obj.baseHash)
        }

        if ((obj.deltaHash != null && obj.deltaHash.byteLength > 0)) {
          w.uint32(50)
          w.bytes(obj.deltaHash)
        }

        if ((obj.encodedSize != null && obj.encodedSize !== 0n)) {
          w.uint32(56)
          w.uint64(obj.encodedSize)
        }

        if (obj.encoding != null && __DeltaEncodingValues[obj.encoding] !== 0) {
          w.uint32(64)
          DeltaEncoding.codec().encode(obj.encoding, w)
        }

        if ((obj.trainLoss != null && obj.trainLoss !== 0)) {
          w.uint32(77)
          w.float(obj.trainLoss)
        }

        if ((obj.sampleCount != null && obj.sampleCount !== 0n)) {
          w.uint32(80)
          w.uint64(obj.sampleCount)
        }

        if ((obj.proofRoot != null && obj.proofRoot.byteLength > 0)) {
          w.uint32(90)
          w.bytes(obj.proofRoot)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          version: 0,
          runId: uint8ArrayAlloc(0),
          round: 0n,
          peerId: uint8ArrayAlloc(0),
          baseHash: uint8ArrayAlloc(0),
          deltaHash: uint8ArrayAlloc(0),
          encodedSize: 0n,
          encoding: DeltaEncoding.FP32,
          trainLoss: 0,
          sampleCount: 0n,
          proofRoot: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.version = reader.uint32()
              break
            }
            case 2: {
              obj.runId = reader.bytes()
              break
            }
            case 3: {
              obj.round = reader.uint64()
              break
            }
            case 4: {
              obj.peerId = reader.bytes()
              break
            }
            case 5: {
              obj.baseHash = reader.bytes()
              break
            }
            case 6: {
              obj.deltaHash = reader.bytes()
              break
            }
            case 7: {
              obj.encodedSize = reader.uint64()
              break
            }
            case 8: {
              obj.encoding = DeltaEncoding.codec().decode(reader)
              break
            }
            case 9: {
              obj.trainLoss = reader.float()
              break
            }
            case 10: {
              obj.sampleCount = reader.uint64()
              break
            }
            case 11: {
              obj.proofRoot = reader.bytes()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.version`,
                value: reader.uint32()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.runId`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.round`,
                value: reader.uint64()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.peerId`,
                value: reader.bytes()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.baseHash`,
                value: reader.bytes()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.deltaHash`,
                value: reader.bytes()
              }
              break
            }
            case 7: {
              yield {
                field: `${prefix}.encodedSize`,
                value: reader.uint64()
              }
              break
            }
            case 8: {
              yield {
                field: `${prefix}.encoding`,
                value: DeltaEncoding.codec().decode(reader)
              }
              break
            }
            case 9: {
              yield {
                field: `${prefix}.trainLoss`,
                value: reader.float()
              }
              break
            }
            case 10: {
              yield {
                field: `${prefix}.sampleCount`,
                value: reader.uint64()
              }
              break
            }
            case 11: {
              yield {
                field: `${prefix}.proofRoot`,
                value: reader.bytes()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface DeltaAnnouncementVersionFieldEvent {
    field: '$.version'
    value: number
  }

  export interface DeltaAnnouncementRunIdFieldEvent {
    field: '$.runId'
    value: Uint8Array<ArrayBuffer>
  }

  export interface DeltaAnnouncementRoundFieldEvent {
    field: '$.round'
    value: bigint
  }

  export interface DeltaAnnouncementPeerIdFieldEvent {
    field: '$.peerId'
    value: Uint8Array<ArrayBuffer>
  }

  export interface DeltaAnnouncementBaseHashFieldEvent {
    field: '$.baseHash'
    value: Uint8Array<ArrayBuffer>
  }

  export interface DeltaAnnouncementDeltaHashFieldEvent {
    field: '$.deltaHash'
    value: Uint8Array<ArrayBuffer>
  }

  export interface DeltaAnnouncementEncodedSizeFieldEvent {
    field: '$.encodedSize'
    value: bigint
  }

  export interface DeltaAnnouncementEncodingFieldEvent {
    field: '$.encoding'
    value: DeltaEncoding
  }

  export interface DeltaAnnouncementTrainLossFieldEvent {
    field: '$.trainLoss'
    value: number
  }

  export interface DeltaAnnouncementSampleCountFieldEvent {
    field: '$.sampleCount'
    value: bigint
  }

  export interface DeltaAnnouncementProofRootFieldEvent {
    field: '$.proofRoot'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<DeltaAnnouncement>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, DeltaAnnouncement.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<DeltaAnnouncement>): DeltaAnnouncement {
    return decodeMessage(buf, DeltaAnnouncement.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<DeltaAnnouncement>): Generator<DeltaAnnouncementVersionFieldEvent | DeltaAnnouncementRunIdFieldEvent | DeltaAnnouncementRoundFieldEvent | DeltaAnnouncementPeerIdFieldEvent | DeltaAnnouncementBaseHashFieldEvent | DeltaAnnouncementDeltaHashFieldEvent | DeltaAnnouncementEncodedSizeFieldEvent | DeltaAnnouncementEncodingFieldEvent | DeltaAnnouncementTrainLossFieldEvent | DeltaAnnouncementSampleCountFieldEvent | DeltaAnnouncementProofRootFieldEvent> {
    return streamMessage(buf, DeltaAnnouncement.codec(), opts)
  }
}

export interface ModelCommit {
  version: number
  runId: Uint8Array<ArrayBuffer>
  round: bigint
  peerId: Uint8Array<ArrayBuffer>
  weightsHash: Uint8Array<ArrayBuffer>
  deltaHashes: Uint8Array<ArrayBuffer>[]
  stateRoot: Uint8Array<ArrayBuffer>
  stateSize: bigint
}

export namespace ModelCommit {
  let _codec: Codec<ModelCommit>

  export const codec = (): Codec<ModelCommit> => {
    if (_codec == null) {
      _codec = message<ModelCommit>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.version != null && obj.version !== 0)) {
          w.uint32(8)
          w.uint32(obj.version)
        }

        if ((obj.runId != null && obj.runId.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.runId)
        }

        if ((obj.round != null && obj.round !== 0n)) {
          w.uint32(24)
          w.uint64(obj.round)
        }

        if ((obj.peerId != null && obj.peerId.byteLength > 0)) {
          w.uint32(34)
          w.bytes(obj.peerId)
        }

        if ((obj.weightsHash != null && obj.weightsHash.byteLength > 0)) {
          w.uint32(42)
          w.bytes(obj.weightsHash)
        }

        if (obj.deltaHashes != null && obj.deltaHashes.length > 0) {
          for (const value of obj.deltaHashes) {
            w.uint32(50)
            w.bytes(value)
          }
        }

        if ((obj.stateRoot != null && obj.stateRoot.byteLength > 0)) {
          w.uint32(58)
          w.bytes(obj.stateRoot)
        }

        if ((obj.stateSize != null && obj.stateSize !== 0n)) {
          w.uint32(64)
          w.uint64(obj.stateSize)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          version: 0,
          runId: uint8ArrayAlloc(0),
          round: 0n,
          peerId: uint8ArrayAlloc(0),
          weightsHash: uint8ArrayAlloc(0),
          deltaHashes: [],
          stateRoot: uint8ArrayAlloc(0),
          stateSize: 0n
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.version = reader.uint32()
              break
            }
            case 2: {
              obj.runId = reader.bytes()
              break
            }
            case 3: {
              obj.round = reader.uint64()
              break
            }
            case 4: {
              obj.peerId = reader.bytes()
              break
            }
            case 5: {
              obj.weightsHash = reader.bytes()
              break
            }
            case 6: {
              if (opts.limits?.deltaHashes != null && obj.deltaHashes.length === opts.limits.deltaHashes) {
                throw new MaxLengthError('Decode error - repeated field "deltaHashes" had too many elements')
              }

              obj.deltaHashes.push(reader.bytes())
              break
            }
            case 7: {
              obj.stateRoot = reader.bytes()
              break
            }
            case 8: {
              obj.stateSize = reader.uint64()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          deltaHashes: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.version`,
                value: reader.uint32()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.runId`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.round`,
                value: reader.uint64()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.peerId`,
                value: reader.bytes()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.weightsHash`,
                value: reader.bytes()
              }
              break
            }
            case 6: {
              if (opts.limits?.deltaHashes != null && obj.deltaHashes === opts.limits.deltaHashes) {
                throw new MaxLengthError('Streaming decode error - repeated field "deltaHashes" had too many elements')
              }

              yield {
                field: `${prefix}.deltaHashes[]`,
                index: obj.deltaHashes,
                value: reader.bytes()
              }

              obj.deltaHashes++

              break
            }
            case 7: {
              yield {
                field: `${prefix}.stateRoot`,
                value: reader.bytes()
              }
              break
            }
            case 8: {
              yield {
                field: `${prefix}.stateSize`,
                value: reader.uint64()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface ModelCommitVersionFieldEvent {
    field: '$.version'
    value: number
  }

  export interface ModelCommitRunIdFieldEvent {
    field: '$.runId'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ModelCommitRoundFieldEvent {
    field: '$.round'
    value: bigint
  }

  export interface ModelCommitPeerIdFieldEvent {
    field: '$.peerId'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ModelCommitWeightsHashFieldEvent {
    field: '$.weightsHash'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ModelCommitDeltaHashesFieldEvent {
    field: '$.deltaHashes[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export interface ModelCommitStateRootFieldEvent {
    field: '$.stateRoot'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ModelCommitStateSizeFieldEvent {
    field: '$.stateSize'
    value: bigint
  }

  export function encode (obj: Partial<ModelCommit>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, ModelCommit.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ModelCommit>): ModelCommit {
    return decodeMessage(buf, ModelCommit.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ModelCommit>): Generator<ModelCommitVersionFieldEvent | ModelCommitRunIdFieldEvent | ModelCommitRoundFieldEvent | ModelCommitPeerIdFieldEvent | ModelCommitWeightsHashFieldEvent | ModelCommitDeltaHashesFieldEvent | ModelCommitStateRootFieldEvent | ModelCommitStateSizeFieldEvent> {
    return streamMessage(buf, ModelCommit.codec(), opts)
  }
}

export interface ChunkRequest {
  root: Uint8Array<ArrayBuffer>
  size: bigint
  indices: number[]
}

export namespace ChunkRequest {
  let _codec: Codec<ChunkRequest>

  export const codec = (): Codec<ChunkRequest> => {
    if (_codec == null) {
      _codec = message<ChunkRequest>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.root != null && obj.root.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.root)
        }

        if ((obj.size != null && obj.size !== 0n)) {
          w.uint32(16)
          w.uint64(obj.size)
        }

        if (obj.indices != null && obj.indices.length > 0) {
          for (const value of obj.indices) {
            w.uint32(24)
            w.uint32(value)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          root: uint8ArrayAlloc(0),
          size: 0n,
          indices: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.root = reader.bytes()
              break
            }
            case 2: {
              obj.size = reader.uint64()
              break
            }
            case 3: {
              if (opts.limits?.indices != null && obj.indices.length === opts.limits.indices) {
                throw new MaxLengthError('Decode error - repeated field "indices" had too many elements')
              }

              obj.indices.push(reader.uint32())
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          indices: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.root`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.size`,
                value: reader.uint64()
              }
              break
            }
            case 3: {
              if (opts.limits?.indices != null && obj.indices === opts.limits.indices) {
                throw new MaxLengthError('Streaming decode error - repeated field "indices" had too many elements')
              }

              yield {
                field: `${prefix}.indices[]`,
                index: obj.indices,
                value: reader.uint32()
              }

              obj.indices++

              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface ChunkRequestRootFieldEvent {
    field: '$.root'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ChunkRequestSizeFieldEvent {
    field: '$.size'
    value: bigint
  }

  export interface ChunkRequestIndicesFieldEvent {
    field: '$.indices[]'
    index: number
    value: number
  }

  export function encode (obj: Partial<ChunkRequest>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, ChunkRequest.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ChunkRequest>): ChunkRequest {
    return decodeMessage(buf, ChunkRequest.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ChunkRequest>): Generator<ChunkRequestRootFieldEvent | ChunkRequestSizeFieldEvent | ChunkRequestIndicesFieldEvent> {
    return streamMessage(buf, ChunkRequest.codec(), opts)
  }
}

export enum ChunkStatus {
  OK = 'OK',
  NOT_FOUND = 'NOT_FOUND',
  BAD_REQUEST = 'BAD_REQUEST'
}

enum __ChunkStatusValues {
  OK = 0,
  NOT_FOUND = 1,
  BAD_REQUEST = 2
}

export namespace ChunkStatus {
  export const codec = (): Codec<ChunkStatus> => {
    return enumeration<ChunkStatus>(__ChunkStatusValues)
  }
}

export interface ChunkResponse {
  status: ChunkStatus
  index: number
  proof: Uint8Array<ArrayBuffer>[]
  message: string
}

export namespace ChunkResponse {
  let _codec: Codec<ChunkResponse>

  export const codec = (): Codec<ChunkResponse> => {
    if (_codec == null) {
      _codec = message<ChunkResponse>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.status != null && __ChunkStatusValues[obj.status] !== 0) {
          w.uint32(8)
          ChunkStatus.codec().encode(obj.status, w)
        }

        if ((obj.index != null && obj.index !== 0)) {
          w.uint32(16)
          w.uint32(obj.index)
        }

        if (obj.proof != null && obj.proof.length > 0) {
          for (const value of obj.proof) {
            w.uint32(26)
            w.bytes(value)
          }
        }

        if ((obj.message != null && obj.message !== '')) {
          w.uint32(34)
          w.string(obj.message)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          status: ChunkStatus.OK,
          index: 0,
          proof: [],
          message: ''
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.status = ChunkStatus.codec().decode(reader)
              break
            }
            case 2: {
              obj.index = reader.uint32()
              break
            }
            case 3: {
              if (opts.limits?.proof != null && obj.proof.length === opts.limits.proof) {
                throw new MaxLengthError('Decode error - repeated field "proof" had too many elements')
              }

              obj.proof.push(reader.bytes())
              break
            }
            case 4: {
              obj.message = reader.string()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          proof: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.status`,
                value: ChunkStatus.codec().decode(reader)
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.index`,
                value: reader.uint32()
              }
              break
            }
            case 3: {
              if (opts.limits?.proof != null && obj.proof === opts.limits.proof) {
                throw new MaxLengthError('Streaming decode error - repeated field "proof" had too many elements')
              }

              yield {
                field: `${prefix}.proof[]`,
                index: obj.proof,
                value: reader.bytes()
              }

              obj.proof++

              break
            }
            case 4: {
              yield {
                field: `${prefix}.message`,
                value: reader.string()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface ChunkResponseStatusFieldEvent {
    field: '$.status'
    value: ChunkStatus
  }

  export interface ChunkResponseIndexFieldEvent {
    field: '$.index'
    value: number
  }

  export interface ChunkResponseProofFieldEvent {
    field: '$.proof[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export interface ChunkResponseMessageFieldEvent {
    field: '$.message'
    value: string
  }

  export function encode (obj: Partial<ChunkResponse>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, ChunkResponse.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ChunkResponse>): ChunkResponse {
    return decodeMessage(buf, ChunkResponse.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ChunkResponse>): Generator<ChunkResponseStatusFieldEvent | ChunkResponseIndexFieldEvent | ChunkResponseProofFieldEvent | ChunkResponseMessageFieldEvent> {
    return streamMessage(buf, ChunkResponse.codec(), opts)
  }
}

export interface DeltaHave {
  version: number
  runId: Uint8Array<ArrayBuffer>
  round: bigint
  peerId: Uint8Array<ArrayBuffer>
  deltaHashes: Uint8Array<ArrayBuffer>[]
}

export namespace DeltaHave {
  let _codec: Codec<DeltaHave>

  export const codec = (): Codec<DeltaHave> => {
    if (_codec == null) {
      _codec = message<DeltaHave>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.version != null && obj.version !== 0)) {
          w.uint32(8)
          w.uint32(obj.version)
        }

        if ((obj.runId != null && obj.runId.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.runId)
        }

        if ((obj.round != null && obj.round !== 0n)) {
          w.uint32(24)
          w.uint64(obj.round)
        }

        if ((obj.peerId != null && obj.peerId.byteLength > 0)) {
          w.uint32(34)
          w.bytes(obj.peerId)
        }

        if (obj.deltaHashes != null && obj.deltaHashes.length > 0) {
          for (const value of obj.deltaHashes) {
            w.uint32(42)
            w.bytes(value)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          version: 0,
          runId: uint8ArrayAlloc(0),
          round: 0n,
          peerId: uint8ArrayAlloc(0),
          deltaHashes: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.version = reader.uint32()
              break
            }
            case 2: {
              obj.runId = reader.bytes()
              break
            }
            case 3: {
              obj.round = reader.uint64()
              break
            }
            case 4: {
              obj.peerId = reader.bytes()
              break
            }
            case 5: {
              if (opts.limits?.deltaHashes != null && obj.deltaHashes.length === opts.limits.deltaHashes) {
                throw new MaxLengthError('Decode error - repeated field "deltaHashes" had too many elements')
              }

              obj.deltaHashes.push(reader.bytes())
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          deltaHashes: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.version`,
                value: reader.uint32()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.runId`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.round`,
                value: reader.uint64()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.peerId`,
                value: reader.bytes()
              }
              break
            }
            case 5: {
              if (opts.limits?.deltaHashes != null && obj.deltaHashes === opts.limits.deltaHashes) {
                throw new MaxLengthError('Streaming decode error - repeated field "deltaHashes" had too many elements')
              }

              yield {
                field: `${prefix}.deltaHashes[]`,
                index: obj.deltaHashes,
                value: reader.bytes()
              }

              obj.deltaHashes++

              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface DeltaHaveVersionFieldEvent {
    field: '$.version'
    value: number
  }

  export interface DeltaHaveRunIdFieldEvent {
    field: '$.runId'
    value: Uint8Array<ArrayBuffer>
  }

  export interface DeltaHaveRoundFieldEvent {
    field: '$.round'
    value: bigint
  }

  export interface DeltaHavePeerIdFieldEvent {
    field: '$.peerId'
    value: Uint8Array<ArrayBuffer>
  }

  export interface DeltaHaveDeltaHashesFieldEvent {
    field: '$.deltaHashes[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<DeltaHave>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, DeltaHave.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<DeltaHave>): DeltaHave {
    return decodeMessage(buf, DeltaHave.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<DeltaHave>): Generator<DeltaHaveVersionFieldEvent | DeltaHaveRunIdFieldEvent | DeltaHaveRoundFieldEvent | DeltaHavePeerIdFieldEvent | DeltaHaveDeltaHashesFieldEvent> {
    return streamMessage(buf, DeltaHave.codec(), opts)
  }
}

export interface ShardResult {
  version: number
  runId: Uint8Array<ArrayBuffer>
  round: bigint
  peerId: Uint8Array<ArrayBuffer>
  baseHash: Uint8Array<ArrayBuffer>
  setRoot: Uint8Array<ArrayBuffer>
  shard: number
  resultRoot: Uint8Array<ArrayBuffer>
  resultSize: bigint
}

export namespace ShardResult {
  let _codec: Codec<ShardResult>

  export const codec = (): Codec<ShardResult> => {
    if (_codec == null) {
      _codec = message<ShardResult>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.version != null && obj.version !== 0)) {
          w.uint32(8)
          w.uint32(obj.version)
        }

        if ((obj.runId != null && obj.runId.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.runId)
        }

        if ((obj.round != null && obj.round !== 0n)) {
          w.uint32(24)
          w.uint64(obj.round)
        }

        if ((obj.peerId != null && obj.peerId.byteLength > 0)) {
          w.uint32(34)
          w.bytes(obj.peerId)
        }

        if ((obj.baseHash != null && obj.baseHash.byteLength > 0)) {
          w.uint32(42)
          w.bytes(obj.baseHash)
        }

        if ((obj.setRoot != null && obj.setRoot.byteLength > 0)) {
          w.uint32(50)
          w.bytes(obj.setRoot)
        }

        if ((obj.shard != null && obj.shard !== 0)) {
          w.uint32(56)
          w.uint32(obj.shard)
        }

        if ((obj.resultRoot != null && obj.resultRoot.byteLength > 0)) {
          w.uint32(66)
          w.bytes(obj.resultRoot)
        }

        if ((obj.resultSize != null && obj.resultSize !== 0n)) {
          w.uint32(72)
          w.uint64(obj.resultSize)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          version: 0,
          runId: uint8ArrayAlloc(0),
          round: 0n,
          peerId: uint8ArrayAlloc(0),
          baseHash: uint8ArrayAlloc(0),
          setRoot: uint8ArrayAlloc(0),
          shard: 0,
          resultRoot: uint8ArrayAlloc(0),
          resultSize: 0n
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.version = reader.uint32()
              break
            }
            case 2: {
              obj.runId = reader.bytes()
              break
            }
            case 3: {
              obj.round = reader.uint64()
              break
            }
            case 4: {
              obj.peerId = reader.bytes()
              break
            }
            case 5: {
              obj.baseHash = reader.bytes()
              break
            }
            case 6: {
              obj.setRoot = reader.bytes()
              break
            }
            case 7: {
              obj.shard = reader.uint32()
              break
            }
            case 8: {
              obj.resultRoot = reader.bytes()
              break
            }
            case 9: {
              obj.resultSize = reader.uint64()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.version`,
                value: reader.uint32()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.runId`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.round`,
                value: reader.uint64()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.peerId`,
                value: reader.bytes()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.baseHash`,
                value: reader.bytes()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.setRoot`,
                value: reader.bytes()
              }
              break
            }
            case 7: {
              yield {
                field: `${prefix}.shard`,
                value: reader.uint32()
              }
              break
            }
            case 8: {
              yield {
                field: `${prefix}.resultRoot`,
                value: reader.bytes()
              }
              break
            }
            case 9: {
              yield {
                field: `${prefix}.resultSize`,
                value: reader.uint64()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface ShardResultVersionFieldEvent {
    field: '$.version'
    value: number
  }

  export interface ShardResultRunIdFieldEvent {
    field: '$.runId'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ShardResultRoundFieldEvent {
    field: '$.round'
    value: bigint
  }

  export interface ShardResultPeerIdFieldEvent {
    field: '$.peerId'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ShardResultBaseHashFieldEvent {
    field: '$.baseHash'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ShardResultSetRootFieldEvent {
    field: '$.setRoot'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ShardResultShardFieldEvent {
    field: '$.shard'
    value: number
  }

  export interface ShardResultResultRootFieldEvent {
    field: '$.resultRoot'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ShardResultResultSizeFieldEvent {
    field: '$.resultSize'
    value: bigint
  }

  export function encode (obj: Partial<ShardResult>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, ShardResult.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ShardResult>): ShardResult {
    return decodeMessage(buf, ShardResult.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ShardResult>): Generator<ShardResultVersionFieldEvent | ShardResultRunIdFieldEvent | ShardResultRoundFieldEvent | ShardResultPeerIdFieldEvent | ShardResultBaseHashFieldEvent | ShardResultSetRootFieldEvent | ShardResultShardFieldEvent | ShardResultResultRootFieldEvent | ShardResultResultSizeFieldEvent> {
    return streamMessage(buf, ShardResult.codec(), opts)
  }
}

export interface ShardPartials {
  version: number
  runId: Uint8Array<ArrayBuffer>
  round: bigint
  peerId: Uint8Array<ArrayBuffer>
  setRoot: Uint8Array<ArrayBuffer>
  shard: number
  inputs: number
  distances: Uint8Array<ArrayBuffer>
  anchor: Uint8Array<ArrayBuffer>
}

export namespace ShardPartials {
  let _codec: Codec<ShardPartials>

  export const codec = (): Codec<ShardPartials> => {
    if (_codec == null) {
      _codec = message<ShardPartials>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.version != null && obj.version !== 0)) {
          w.uint32(8)
          w.uint32(obj.version)
        }

        if ((obj.runId != null && obj.runId.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.runId)
        }

        if ((obj.round != null && obj.round !== 0n)) {
          w.uint32(24)
          w.uint64(obj.round)
        }

        if ((obj.peerId != null && obj.peerId.byteLength > 0)) {
          w.uint32(34)
          w.bytes(obj.peerId)
        }

        if ((obj.setRoot != null && obj.setRoot.byteLength > 0)) {
          w.uint32(42)
          w.bytes(obj.setRoot)
        }

        if ((obj.shard != null && obj.shard !== 0)) {
          w.uint32(48)
          w.uint32(obj.shard)
        }

        if ((obj.inputs != null && obj.inputs !== 0)) {
          w.uint32(56)
          w.uint32(obj.inputs)
        }

        if ((obj.distances != null && obj.distances.byteLength > 0)) {
          w.uint32(66)
          w.bytes(obj.distances)
        }

        if ((obj.anchor != null && obj.anchor.byteLength > 0)) {
          w.uint32(74)
          w.bytes(obj.anchor)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          version: 0,
          runId: uint8ArrayAlloc(0),
          round: 0n,
          peerId: uint8ArrayAlloc(0),
          setRoot: uint8ArrayAlloc(0),
          shard: 0,
          inputs: 0,
          distances: uint8ArrayAlloc(0),
          anchor: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.version = reader.uint32()
              break
            }
            case 2: {
              obj.runId = reader.bytes()
              break
            }
            case 3: {
              obj.round = reader.uint64()
              break
            }
            case 4: {
              obj.peerId = reader.bytes()
              break
            }
            case 5: {
              obj.setRoot = reader.bytes()
              break
            }
            case 6: {
              obj.shard = reader.uint32()
              break
            }
            case 7: {
              obj.inputs = reader.uint32()
              break
            }
            case 8: {
              obj.distances = reader.bytes()
              break
            }
            case 9: {
              obj.anchor = reader.bytes()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.version`,
                value: reader.uint32()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.runId`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.round`,
                value: reader.uint64()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.peerId`,
                value: reader.bytes()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.setRoot`,
                value: reader.bytes()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.shard`,
                value: reader.uint32()
              }
              break
            }
            case 7: {
              yield {
                field: `${prefix}.inputs`,
                value: reader.uint32()
              }
              break
            }
            case 8: {
              yield {
                field: `${prefix}.distances`,
                value: reader.bytes()
              }
              break
            }
            case 9: {
              yield {
                field: `${prefix}.anchor`,
                value: reader.bytes()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface ShardPartialsVersionFieldEvent {
    field: '$.version'
    value: number
  }

  export interface ShardPartialsRunIdFieldEvent {
    field: '$.runId'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ShardPartialsRoundFieldEvent {
    field: '$.round'
    value: bigint
  }

  export interface ShardPartialsPeerIdFieldEvent {
    field: '$.peerId'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ShardPartialsSetRootFieldEvent {
    field: '$.setRoot'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ShardPartialsShardFieldEvent {
    field: '$.shard'
    value: number
  }

  export interface ShardPartialsInputsFieldEvent {
    field: '$.inputs'
    value: number
  }

  export interface ShardPartialsDistancesFieldEvent {
    field: '$.distances'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ShardPartialsAnchorFieldEvent {
    field: '$.anchor'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<ShardPartials>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, ShardPartials.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ShardPartials>): ShardPartials {
    return decodeMessage(buf, ShardPartials.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ShardPartials>): Generator<ShardPartialsVersionFieldEvent | ShardPartialsRunIdFieldEvent | ShardPartialsRoundFieldEvent | ShardPartialsPeerIdFieldEvent | ShardPartialsSetRootFieldEvent | ShardPartialsShardFieldEvent | ShardPartialsInputsFieldEvent | ShardPartialsDistancesFieldEvent | ShardPartialsAnchorFieldEvent> {
    return streamMessage(buf, ShardPartials.codec(), opts)
  }
}

export interface ShardEvidence {
  result: Uint8Array<ArrayBuffer>
  other: Uint8Array<ArrayBuffer>
  block: number
}

export namespace ShardEvidence {
  let _codec: Codec<ShardEvidence>

  export const codec = (): Codec<ShardEvidence> => {
    if (_codec == null) {
      _codec = message<ShardEvidence>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.result != null && obj.result.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.result)
        }

        if ((obj.other != null && obj.other.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.other)
        }

        if ((obj.block != null && obj.block !== 0)) {
          w.uint32(24)
          w.uint32(obj.block)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          result: uint8ArrayAlloc(0),
          other: uint8ArrayAlloc(0),
          block: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.result = reader.bytes()
              break
            }
            case 2: {
              obj.other = reader.bytes()
              break
            }
            case 3: {
              obj.block = reader.uint32()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.result`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.other`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.block`,
                value: reader.uint32()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface ShardEvidenceResultFieldEvent {
    field: '$.result'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ShardEvidenceOtherFieldEvent {
    field: '$.other'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ShardEvidenceBlockFieldEvent {
    field: '$.block'
    value: number
  }

  export function encode (obj: Partial<ShardEvidence>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, ShardEvidence.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ShardEvidence>): ShardEvidence {
    return decodeMessage(buf, ShardEvidence.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ShardEvidence>): Generator<ShardEvidenceResultFieldEvent | ShardEvidenceOtherFieldEvent | ShardEvidenceBlockFieldEvent> {
    return streamMessage(buf, ShardEvidence.codec(), opts)
  }
}

export interface EquivocationEvidence {
  first: Uint8Array<ArrayBuffer>
  second: Uint8Array<ArrayBuffer>
}

export namespace EquivocationEvidence {
  let _codec: Codec<EquivocationEvidence>

  export const codec = (): Codec<EquivocationEvidence> => {
    if (_codec == null) {
      _codec = message<EquivocationEvidence>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.first != null && obj.first.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.first)
        }

        if ((obj.second != null && obj.second.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.second)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          first: uint8ArrayAlloc(0),
          second: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.first = reader.bytes()
              break
            }
            case 2: {
              obj.second = reader.bytes()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.first`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.second`,
                value: reader.bytes()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface EquivocationEvidenceFirstFieldEvent {
    field: '$.first'
    value: Uint8Array<ArrayBuffer>
  }

  export interface EquivocationEvidenceSecondFieldEvent {
    field: '$.second'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<EquivocationEvidence>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, EquivocationEvidence.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<EquivocationEvidence>): EquivocationEvidence {
    return decodeMessage(buf, EquivocationEvidence.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<EquivocationEvidence>): Generator<EquivocationEvidenceFirstFieldEvent | EquivocationEvidenceSecondFieldEvent> {
    return streamMessage(buf, EquivocationEvidence.codec(), opts)
  }
}

export interface ProofHeader {
  version: number
  runId: Uint8Array<ArrayBuffer>
  round: bigint
  peerId: Uint8Array<ArrayBuffer>
  baseHash: Uint8Array<ArrayBuffer>
  deltaHash: Uint8Array<ArrayBuffer>
  hyperparameters: string
  backend: string
  checkpointInterval: number
  dataCommitment: Uint8Array<ArrayBuffer>
  checkpointSteps: number[]
  updateNorms: number[]
  optimizerIn: Uint8Array<ArrayBuffer>
  optimizerOut: Uint8Array<ArrayBuffer>
  residualIn: Uint8Array<ArrayBuffer>
  residualOut: Uint8Array<ArrayBuffer>
  previousRoundPlusOne: bigint
  precision: string
}

export namespace ProofHeader {
  let _codec: Codec<ProofHeader>

  export const codec = (): Codec<ProofHeader> => {
    if (_codec == null) {
      _codec = message<ProofHeader>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.version != null && obj.version !== 0)) {
          w.uint32(8)
          w.uint32(obj.version)
        }

        if ((obj.runId != null && obj.runId.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.runId)
        }

        if ((obj.round != null && obj.round !== 0n)) {
          w.uint32(24)
          w.uint64(obj.round)
        }

        if ((obj.peerId != null && obj.peerId.byteLength > 0)) {
          w.uint32(34)
          w.bytes(obj.peerId)
        }

        if ((obj.baseHash != null && obj.baseHash.byteLength > 0)) {
          w.uint32(42)
          w.bytes(obj.baseHash)
        }

        if ((obj.deltaHash != null && obj.deltaHash.byteLength > 0)) {
          w.uint32(50)
          w.bytes(obj.deltaHash)
        }

        if ((obj.hyperparameters != null && obj.hyperparameters !== '')) {
          w.uint32(58)
          w.string(obj.hyperparameters)
        }

        if ((obj.backend != null && obj.backend !== '')) {
          w.uint32(66)
          w.string(obj.backend)
        }

        if ((obj.checkpointInterval != null && obj.checkpointInterval !== 0)) {
          w.uint32(72)
          w.uint32(obj.checkpointInterval)
        }

        if ((obj.dataCommitment != null && obj.dataCommitment.byteLength > 0)) {
          w.uint32(82)
          w.bytes(obj.dataCommitment)
        }

        if (obj.checkpointSteps != null && obj.checkpointSteps.length > 0) {
          for (const value of obj.checkpointSteps) {
            w.uint32(88)
            w.uint32(value)
          }
        }

        if (obj.updateNorms != null && obj.updateNorms.length > 0) {
          for (const value of obj.updateNorms) {
            w.uint32(101)
            w.float(value)
          }
        }

        if ((obj.optimizerIn != null && obj.optimizerIn.byteLength > 0)) {
          w.uint32(106)
          w.bytes(obj.optimizerIn)
        }

        if ((obj.optimizerOut != null && obj.optimizerOut.byteLength > 0)) {
          w.uint32(114)
          w.bytes(obj.optimizerOut)
        }

        if ((obj.residualIn != null && obj.residualIn.byteLength > 0)) {
          w.uint32(122)
          w.bytes(obj.residualIn)
        }

        if ((obj.residualOut != null && obj.residualOut.byteLength > 0)) {
          w.uint32(130)
          w.bytes(obj.residualOut)
        }

        if ((obj.previousRoundPlusOne != null && obj.previousRoundPlusOne !== 0n)) {
          w.uint32(136)
          w.uint64(obj.previousRoundPlusOne)
        }

        if ((obj.precision != null && obj.precision !== '')) {
          w.uint32(146)
          w.string(obj.precision)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          version: 0,
          runId: uint8ArrayAlloc(0),
          round: 0n,
          peerId: uint8ArrayAlloc(0),
          baseHash: uint8ArrayAlloc(0),
          deltaHash: uint8ArrayAlloc(0),
          hyperparameters: '',
          backend: '',
          checkpointInterval: 0,
          dataCommitment: uint8ArrayAlloc(0),
          checkpointSteps: [],
          updateNorms: [],
          optimizerIn: uint8ArrayAlloc(0),
          optimizerOut: uint8ArrayAlloc(0),
          residualIn: uint8ArrayAlloc(0),
          residualOut: uint8ArrayAlloc(0),
          previousRoundPlusOne: 0n,
          precision: ''
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.version = reader.uint32()
              break
            }
            case 2: {
              obj.runId = reader.bytes()
              break
            }
            case 3: {
              obj.round = reader.uint64()
              break
            }
            case 4: {
              obj.peerId = reader.bytes()
              break
            }
            case 5: {
              obj.baseHash = reader.bytes()
              break
            }
            case 6: {
              obj.deltaHash = reader.bytes()
              break
            }
            case 7: {
              obj.hyperparameters = reader.string()
              break
            }
            case 8: {
              obj.backend = reader.string()
              break
            }
            case 9: {
              obj.checkpointInterval = reader.uint32()
              break
            }
            case 10: {
              obj.dataCommitment = reader.bytes()
              break
            }
            case 11: {
              if (opts.limits?.checkpointSteps != null && obj.checkpointSteps.length === opts.limits.checkpointSteps) {
                throw new MaxLengthError('Decode error - repeated field "checkpointSteps" had too many elements')
              }

              obj.checkpointSteps.push(reader.uint32())
              break
            }
            case 12: {
              if (opts.limits?.updateNorms != null && obj.updateNorms.length === opts.limits.updateNorms) {
                throw new MaxLengthError('Decode error - repeated field "updateNorms" had too many elements')
              }

              obj.updateNorms.push(reader.float())
              break
            }
            case 13: {
              obj.optimizerIn = reader.bytes()
              break
            }
            case 14: {
              obj.optimizerOut = reader.bytes()
              break
            }
            case 15: {
              obj.residualIn = reader.bytes()
              break
            }
            case 16: {
              obj.residualOut = reader.bytes()
              break
            }
            case 17: {
              obj.previousRoundPlusOne = reader.uint64()
              break
            }
            case 18: {
              obj.precision = reader.string()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          checkpointSteps: 0,
          updateNorms: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.version`,
                value: reader.uint32()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.runId`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.round`,
                value: reader.uint64()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.peerId`,
                value: reader.bytes()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.baseHash`,
                value: reader.bytes()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.deltaHash`,
                value: reader.bytes()
              }
              break
            }
            case 7: {
              yield {
                field: `${prefix}.hyperparameters`,
                value: reader.string()
              }
              break
            }
            case 8: {
              yield {
                field: `${prefix}.backend`,
                value: reader.string()
              }
              break
            }
            case 9: {
              yield {
                field: `${prefix}.checkpointInterval`,
                value: reader.uint32()
              }
              break
            }
            case 10: {
              yield {
                field: `${prefix}.dataCommitment`,
                value: reader.bytes()
              }
              break
            }
            case 11: {
              if (opts.limits?.checkpointSteps != null && obj.checkpointSteps === opts.limits.checkpointSteps) {
                throw new MaxLengthError('Streaming decode error - repeated field "checkpointSteps" had too many elements')
              }

              yield {
                field: `${prefix}.checkpointSteps[]`,
                index: obj.checkpointSteps,
                value: reader.uint32()
              }

              obj.checkpointSteps++

              break
            }
            case 12: {
              if (opts.limits?.updateNorms != null && obj.updateNorms === opts.limits.updateNorms) {
                throw new MaxLengthError('Streaming decode error - repeated field "updateNorms" had too many elements')
              }

              yield {
                field: `${prefix}.updateNorms[]`,
                index: obj.updateNorms,
                value: reader.float()
              }

              obj.updateNorms++

              break
            }
            case 13: {
              yield {
                field: `${prefix}.optimizerIn`,
                value: reader.bytes()
              }
              break
            }
            case 14: {
              yield {
                field: `${prefix}.optimizerOut`,
                value: reader.bytes()
              }
              break
            }
            case 15: {
              yield {
                field: `${prefix}.residualIn`,
                value: reader.bytes()
              }
              break
            }
            case 16: {
              yield {
                field: `${prefix}.residualOut`,
                value: reader.bytes()
              }
              break
            }
            case 17: {
              yield {
                field: `${prefix}.previousRoundPlusOne`,
                value: reader.uint64()
              }
              break
            }
            case 18: {
              yield {
                field: `${prefix}.precision`,
                value: reader.string()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface ProofHeaderVersionFieldEvent {
    field: '$.version'
    value: number
  }

  export interface ProofHeaderRunIdFieldEvent {
    field: '$.runId'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ProofHeaderRoundFieldEvent {
    field: '$.round'
    value: bigint
  }

  export interface ProofHeaderPeerIdFieldEvent {
    field: '$.peerId'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ProofHeaderBaseHashFieldEvent {
    field: '$.baseHash'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ProofHeaderDeltaHashFieldEvent {
    field: '$.deltaHash'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ProofHeaderHyperparametersFieldEvent {
    field: '$.hyperparameters'
    value: string
  }

  export interface ProofHeaderBackendFieldEvent {
    field: '$.backend'
    value: string
  }

  export interface ProofHeaderCheckpointIntervalFieldEvent {
    field: '$.checkpointInterval'
    value: number
  }

  export interface ProofHeaderDataCommitmentFieldEvent {
    field: '$.dataCommitment'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ProofHeaderCheckpointStepsFieldEvent {
    field: '$.checkpointSteps[]'
    index: number
    value: number
  }

  export interface ProofHeaderUpdateNormsFieldEvent {
    field: '$.updateNorms[]'
    index: number
    value: number
  }

  export interface ProofHeaderOptimizerInFieldEvent {
    field: '$.optimizerIn'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ProofHeaderOptimizerOutFieldEvent {
    field: '$.optimizerOut'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ProofHeaderResidualInFieldEvent {
    field: '$.residualIn'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ProofHeaderResidualOutFieldEvent {
    field: '$.residualOut'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ProofHeaderPreviousRoundPlusOneFieldEvent {
    field: '$.previousRoundPlusOne'
    value: bigint
  }

  export interface ProofHeaderPrecisionFieldEvent {
    field: '$.precision'
    value: string
  }

  export function encode (obj: Partial<ProofHeader>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, ProofHeader.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ProofHeader>): ProofHeader {
    return decodeMessage(buf, ProofHeader.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ProofHeader>): Generator<ProofHeaderVersionFieldEvent | ProofHeaderRunIdFieldEvent | ProofHeaderRoundFieldEvent | ProofHeaderPeerIdFieldEvent | ProofHeaderBaseHashFieldEvent | ProofHeaderDeltaHashFieldEvent | ProofHeaderHyperparametersFieldEvent | ProofHeaderBackendFieldEvent | ProofHeaderCheckpointIntervalFieldEvent | ProofHeaderDataCommitmentFieldEvent | ProofHeaderCheckpointStepsFieldEvent | ProofHeaderUpdateNormsFieldEvent | ProofHeaderOptimizerInFieldEvent | ProofHeaderOptimizerOutFieldEvent | ProofHeaderResidualInFieldEvent | ProofHeaderResidualOutFieldEvent | ProofHeaderPreviousRoundPlusOneFieldEvent | ProofHeaderPrecisionFieldEvent> {
    return streamMessage(buf, ProofHeader.codec(), opts)
  }
}

export interface ProofManifest {
  header: Uint8Array<ArrayBuffer>
  checkpointRoots: Uint8Array<ArrayBuffer>[]
}

export namespace ProofManifest {
  let _codec: Codec<ProofManifest>

  export const codec = (): Codec<ProofManifest> => {
    if (_codec == null) {
      _codec = message<ProofManifest>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.header != null && obj.header.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.header)
        }

        if (obj.checkpointRoots != null && obj.checkpointRoots.length > 0) {
          for (const value of obj.checkpointRoots) {
            w.uint32(18)
            w.bytes(value)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          header: uint8ArrayAlloc(0),
          checkpointRoots: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.header = reader.bytes()
              break
            }
            case 2: {
              if (opts.limits?.checkpointRoots != null && obj.checkpointRoots.length === opts.limits.checkpointRoots) {
                throw new MaxLengthError('Decode error - repeated field "checkpointRoots" had too many elements')
              }

              obj.checkpointRoots.push(reader.bytes())
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          checkpointRoots: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.header`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              if (opts.limits?.checkpointRoots != null && obj.checkpointRoots === opts.limits.checkpointRoots) {
                throw new MaxLengthError('Streaming decode error - repeated field "checkpointRoots" had too many elements')
              }

              yield {
                field: `${prefix}.checkpointRoots[]`,
                index: obj.checkpointRoots,
                value: reader.bytes()
              }

              obj.checkpointRoots++

              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface ProofManifestHeaderFieldEvent {
    field: '$.header'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ProofManifestCheckpointRootsFieldEvent {
    field: '$.checkpointRoots[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<ProofManifest>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, ProofManifest.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ProofManifest>): ProofManifest {
    return decodeMessage(buf, ProofManifest.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ProofManifest>): Generator<ProofManifestHeaderFieldEvent | ProofManifestCheckpointRootsFieldEvent> {
    return streamMessage(buf, ProofManifest.codec(), opts)
  }
}

export enum ProofItem {
  MANIFEST = 'MANIFEST',
  CHECKPOINT = 'CHECKPOINT',
  RESIDUAL = 'RESIDUAL'
}

enum __ProofItemValues {
  MANIFEST = 0,
  CHECKPOINT = 1,
  RESIDUAL = 2
}

export namespace ProofItem {
  export const codec = (): Codec<ProofItem> => {
    return enumeration<ProofItem>(__ProofItemValues)
  }
}

export interface ProofRequest {
  runId: Uint8Array<ArrayBuffer>
  round: bigint
  item: ProofItem
  index: number
}

export namespace ProofRequest {
  let _codec: Codec<ProofRequest>

  export const codec = (): Codec<ProofRequest> => {
    if (_codec == null) {
      _codec = message<ProofRequest>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.runId != null && obj.runId.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.runId)
        }

        if ((obj.round != null && obj.round !== 0n)) {
          w.uint32(16)
          w.uint64(obj.round)
        }

        if (obj.item != null && __ProofItemValues[obj.item] !== 0) {
          w.uint32(24)
          ProofItem.codec().encode(obj.item, w)
        }

        if ((obj.index != null && obj.index !== 0)) {
          w.uint32(32)
          w.uint32(obj.index)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          runId: uint8ArrayAlloc(0),
          round: 0n,
          item: ProofItem.MANIFEST,
          index: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.runId = reader.bytes()
              break
            }
            case 2: {
              obj.round = reader.uint64()
              break
            }
            case 3: {
              obj.item = ProofItem.codec().decode(reader)
              break
            }
            case 4: {
              obj.index = reader.uint32()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.runId`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.round`,
                value: reader.uint64()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.item`,
                value: ProofItem.codec().decode(reader)
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.index`,
                value: reader.uint32()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface ProofRequestRunIdFieldEvent {
    field: '$.runId'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ProofRequestRoundFieldEvent {
    field: '$.round'
    value: bigint
  }

  export interface ProofRequestItemFieldEvent {
    field: '$.item'
    value: ProofItem
  }

  export interface ProofRequestIndexFieldEvent {
    field: '$.index'
    value: number
  }

  export function encode (obj: Partial<ProofRequest>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, ProofRequest.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ProofRequest>): ProofRequest {
    return decodeMessage(buf, ProofRequest.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ProofRequest>): Generator<ProofRequestRunIdFieldEvent | ProofRequestRoundFieldEvent | ProofRequestItemFieldEvent | ProofRequestIndexFieldEvent> {
    return streamMessage(buf, ProofRequest.codec(), opts)
  }
}

export enum ProofStatus {
  PROOF_OK = 'PROOF_OK',
  PROOF_NOT_FOUND = 'PROOF_NOT_FOUND',
  PROOF_BAD_REQUEST = 'PROOF_BAD_REQUEST',
  PROOF_PRUNED = 'PROOF_PRUNED'
}

enum __ProofStatusValues {
  PROOF_OK = 0,
  PROOF_NOT_FOUND = 1,
  PROOF_BAD_REQUEST = 2,
  PROOF_PRUNED = 3
}

export namespace ProofStatus {
  export const codec = (): Codec<ProofStatus> => {
    return enumeration<ProofStatus>(__ProofStatusValues)
  }
}

export interface ProofResponse {
  status: ProofStatus
  message: string
  announcement: Uint8Array<ArrayBuffer>
  manifest: Uint8Array<ArrayBuffer>
  size: bigint
}

export namespace ProofResponse {
  let _codec: Codec<ProofResponse>

  export const codec = (): Codec<ProofResponse> => {
    if (_codec == null) {
      _codec = message<ProofResponse>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.status != null && __ProofStatusValues[obj.status] !== 0) {
          w.uint32(8)
          ProofStatus.codec().encode(obj.status, w)
        }

        if ((obj.message != null && obj.message !== '')) {
          w.uint32(18)
          w.string(obj.message)
        }

        if ((obj.announcement != null && obj.announcement.byteLength > 0)) {
          w.uint32(26)
          w.bytes(obj.announcement)
        }

        if ((obj.manifest != null && obj.manifest.byteLength > 0)) {
          w.uint32(34)
          w.bytes(obj.manifest)
        }

        if ((obj.size != null && obj.size !== 0n)) {
          w.uint32(40)
          w.uint64(obj.size)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          status: ProofStatus.PROOF_OK,
          message: '',
          announcement: uint8ArrayAlloc(0),
          manifest: uint8ArrayAlloc(0),
          size: 0n
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.status = ProofStatus.codec().decode(reader)
              break
            }
            case 2: {
              obj.message = reader.string()
              break
            }
            case 3: {
              obj.announcement = reader.bytes()
              break
            }
            case 4: {
              obj.manifest = reader.bytes()
              break
            }
            case 5: {
              obj.size = reader.uint64()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.status`,
                value: ProofStatus.codec().decode(reader)
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.message`,
                value: reader.string()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.announcement`,
                value: reader.bytes()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.manifest`,
                value: reader.bytes()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.size`,
                value: reader.uint64()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface ProofResponseStatusFieldEvent {
    field: '$.status'
    value: ProofStatus
  }

  export interface ProofResponseMessageFieldEvent {
    field: '$.message'
    value: string
  }

  export interface ProofResponseAnnouncementFieldEvent {
    field: '$.announcement'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ProofResponseManifestFieldEvent {
    field: '$.manifest'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ProofResponseSizeFieldEvent {
    field: '$.size'
    value: bigint
  }

  export function encode (obj: Partial<ProofResponse>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, ProofResponse.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ProofResponse>): ProofResponse {
    return decodeMessage(buf, ProofResponse.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ProofResponse>): Generator<ProofResponseStatusFieldEvent | ProofResponseMessageFieldEvent | ProofResponseAnnouncementFieldEvent | ProofResponseManifestFieldEvent | ProofResponseSizeFieldEvent> {
    return streamMessage(buf, ProofResponse.codec(), opts)
  }
}
