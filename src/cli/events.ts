// Messages a node child process sends to the `dtrain testnet` parent over the IPC channel.
import type { RoundReport } from '../node/node.js'

export type NodeEvent =
  | { type: 'listening'; peerId: string; addresses: string[]; backend: string; api: string | null }
  | { type: 'ready'; peers: number; initialEvalLoss: number; round: number }
  | { type: 'round'; report: RoundReport }
  | { type: 'relayed'; addresses: string[] }
  | { type: 'synced'; round: number; weightsHash: string; why: 'behind' | 'minority' }
  | { type: 'done'; weightsHash: string; bytesSent: number; bytesReceived: number }
  | { type: 'error'; message: string }
