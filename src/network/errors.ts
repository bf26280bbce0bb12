/** A publish the network layer refuses (too large): a programming error, not a network condition. */
export class GossipPublishError extends Error {
  override name = 'GossipPublishError'
}

/** A sync request that failed: timeout, stream error, or a peer that broke the protocol. */
export class SyncRequestError extends Error {
  override name = 'SyncRequestError'
  constructor(
    message: string,
    readonly peerId: string,
    readonly kind: 'timeout' | 'protocol' | 'stream' | 'refused',
  ) {
    super(message)
  }
}

/** A tx fetch request that failed: timeout, stream error, or a peer that broke the protocol. */
export class TxFetchError extends Error {
  override name = 'TxFetchError'
  constructor(
    message: string,
    readonly peerId: string,
    readonly kind: 'timeout' | 'protocol' | 'stream' | 'refused',
  ) {
    super(message)
  }
}

/** fetchRange ran out of peers able to serve the next height. */
export class SyncUnavailableError extends Error {
  override name = 'SyncUnavailableError'
  constructor(
    message: string,
    readonly nextHeight: number,
  ) {
    super(message)
  }
}

export class NetworkNotStartedError extends Error {
  override name = 'NetworkNotStartedError'
}
