export class MalformedDeltaError extends Error {
  override name = 'MalformedDeltaError'
}

export class DeltaShapeError extends Error {
  override name = 'DeltaShapeError'
}

export class NonFiniteDeltaError extends Error {
  override name = 'NonFiniteDeltaError'
}

/** A finite delta value beyond limits.maxDeltaMagnitude (SPEC.md 6.8). */
export class DeltaRangeError extends Error {
  override name = 'DeltaRangeError'
}
