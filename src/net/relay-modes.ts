// When a node reserves a slot on a relay (SPEC.md 2.9; NodeOptions.relayClient), apart from
// reachability.ts: the CLI parses its options without loading libp2p.

export const RELAY_CLIENT_MODES = ['auto', 'always', 'off'] as const
export type RelayClientMode = (typeof RELAY_CLIENT_MODES)[number]
