export class MalformedDeltaError extends Error {
  override name = 'MalformedDeltaError'
}

export class DeltaShapeError extends Error {
  override name = 'DeltaShapeError'
}

export class NonFiniteDeltaError extends Error {
  override name = 'NonFiniteDeltaError'
}
