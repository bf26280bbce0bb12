export * from './errors.js'
export * from './journal.js'
export * from './mempool.js'
export * from './options.js'
