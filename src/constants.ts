// The protocol's constants, read from protocol/constants.json so that SPEC.md, the
// published constants and the code cannot drift apart (test/spec/constants.test.ts).
import constants from '../protocol/constants.json' with { type: 'json' }

export const PROTOCOL = constants
export const LIMITS = constants.limits
export const DOMAINS = constants.domains

export function deltaTopic(runIdHex: string): string {
  return `${constants.topicPrefix}/${runIdHex}/${constants.deltaTopicSuffix}`
}

export function commitTopic(runIdHex: string): string {
  return `${constants.topicPrefix}/${runIdHex}/${constants.commitTopicSuffix}`
}

export function haveTopic(runIdHex: string): string {
  return `${constants.topicPrefix}/${runIdHex}/${constants.haveTopicSuffix}`
}

export function evidenceTopic(runIdHex: string): string {
  return `${constants.topicPrefix}/${runIdHex}/${constants.evidenceTopicSuffix}`
}

/** Shard results of a run whose exchange is sharded (SPEC.md 18.4). */
export function shardTopic(runIdHex: string): string {
  return `${constants.topicPrefix}/${runIdHex}/${constants.shardTopicSuffix}`
}

/** Evidence of a wrong shard result (SPEC.md 18.7). */
export function shardEvidenceTopic(runIdHex: string): string {
  return `${constants.topicPrefix}/${runIdHex}/${constants.shardEvidenceTopicSuffix}`
}

/** Partial distances of a sharded run whose rule needs whole-vector distances (SPEC.md 18.8). */
export function shardPartialsTopic(runIdHex: string): string {
  return `${constants.topicPrefix}/${runIdHex}/${constants.shardPartialsTopicSuffix}`
}
