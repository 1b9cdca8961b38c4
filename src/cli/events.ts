// Messages a node child process sends to the `dtrain testnet` parent over the IPC channel.
import type { RoundReport } from '../node/node.js'

export type NodeEvent =
  | { type: 'listening'; peerId: string; addresses: string[]; backend: string; api: string | null }
  | { type: 'ready'; peers: number; initialEvalLoss: number; round: number }
  | { type: 'round'; report: RoundReport }
  | { type: 'relayed'; addresses: string[] }
  | { type: 'synced'; round: number; weightsHash: string; why: 'behind' | 'minority' }
  | {
      type: 'done'
      weightsHash: string
      /** delta and state bytes served and fetched (the chunk protocol's payloads) */
      bytesSent: number
      bytesReceived: number
      /** every byte of the node's connections, as libp2p counts them (framing included) */
      linkBytesSent: number
      linkBytesReceived: number
      /** of them, each protocol's stream payload, sent and received ("/meshsub/1.1.0 sent") */
      linkBytesByProtocol: Record<string, number>
    }
  | { type: 'error'; message: string }
