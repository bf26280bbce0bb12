export * from './ed25519.js'
export * from './hash.js'
export * from './node-key.js'
