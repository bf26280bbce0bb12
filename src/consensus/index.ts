export * from './engine.js'
export * from './new-view.js'
export * from './types.js'
export * from './verify.js'
