export * from './kv-app.js'
export * from './signature-cache.js'
export * from './state-keys.js'
export * from './state-tree.js'
