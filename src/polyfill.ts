// libp2p 3 and its dependencies (mortice, it-queue, @libp2p/utils, yamux, noise) call
// Promise.withResolvers, which Node.js has only from version 22. dtrain supports Node 20
// (see README, "Why Node 20"), so every entry point imports this module before libp2p.
// The polyfill is guarded: on Node 22+ the native implementation is kept.
interface Resolvers<T> {
  promise: Promise<T>
  resolve: (value: T | PromiseLike<T>) => void
  reject: (reason?: unknown) => void
}

const promiseConstructor = Promise as unknown as { withResolvers?: <T>() => Resolvers<T> }

if (typeof promiseConstructor.withResolvers !== 'function') {
  promiseConstructor.withResolvers = <T>(): Resolvers<T> => {
    let resolve!: Resolvers<T>['resolve']
    let reject!: Resolvers<T>['reject']
    const promise = new Promise<T>((res, rej) => {
      resolve = res
      reject = rej
    })
    return { promise, resolve, reject }
  }
}
