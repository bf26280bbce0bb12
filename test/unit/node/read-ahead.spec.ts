import { expect } from 'chai'
import { readAhead } from '../../../src/node/read-ahead.js'

const tick = (): Promise<void> => new Promise((r) => setImmediate(r))

describe('node/read-ahead', () => {
  it('yields in order and prepares up to maxWeight items ahead of the consumer', async () => {
    const prepared: number[] = []
    async function* source(): AsyncGenerator<number> {
      for (let i = 0; i < 10; i++) yield i
    }
    const seen: number[] = []
    const aheadAt: number[] = []
    for await (const i of readAhead(source(), {
      weight: () => 1,
      maxWeight: 3,
      prepare: async (x) => {
        prepared.push(x)
      },
    })) {
      seen.push(i)
      await tick() // let the pump run while "applying" item i
      aheadAt.push(prepared.length)
    }
    expect(seen).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(prepared).to.deep.equal(seen)
    // while item i is applied, items i+1..i+3 are prepared (and no further)
    expect(aheadAt).to.deep.equal([4, 5, 6, 7, 8, 9, 10, 10, 10, 10])
  })

  it('counts weight: one heavy item fills the window alone', async () => {
    const prepared: string[] = []
    async function* source(): AsyncGenerator<string> {
      yield* ['a', 'big', 'b', 'c']
    }
    const aheadAt: number[] = []
    for await (const _ of readAhead(source(), {
      weight: (s) => (s === 'big' ? 100 : 1),
      maxWeight: 50,
      prepare: async (s) => {
        prepared.push(s)
      },
    })) {
      await tick()
      aheadAt.push(prepared.length)
    }
    // while 'a' is applied, 'big' fills the window and 'b' waits; once 'big' is out, the rest come
    expect(aheadAt).to.deep.equal([2, 4, 4, 4])
  })

  it('yields an item only once its preparation settled, also when it failed', async () => {
    let release: () => void = () => {}
    const gate = new Promise<void>((r) => {
      release = r
    })
    async function* source(): AsyncGenerator<number> {
      yield* [1, 2]
    }
    const it = readAhead(source(), {
      weight: () => 1,
      maxWeight: 4,
      prepare: (x) => (x === 1 ? gate : Promise.reject(new Error('worker died'))),
    })
    let first: IteratorResult<number> | undefined
    const pending = it.next().then((r) => {
      first = r
    })
    await tick()
    expect(first).to.equal(undefined)
    release()
    await pending
    expect(first?.value).to.equal(1)
    expect((await it.next()).value).to.equal(2)
    expect((await it.next()).done).to.equal(true)
  })

  it('yields what arrived before a source failure, then throws it', async () => {
    async function* source(): AsyncGenerator<number> {
      yield 1
      yield 2
      throw new Error('no peer can serve height 3')
    }
    const seen: number[] = []
    let error: Error | undefined
    try {
      for await (const x of readAhead(source(), { weight: () => 1, maxWeight: 8, prepare: async () => {} }))
        seen.push(x)
    } catch (err) {
      error = err as Error
    }
    expect(seen).to.deep.equal([1, 2])
    expect(error?.message).to.equal('no peer can serve height 3')
  })

  it('stops the source when the consumer stops early', async () => {
    let finished = false
    async function* source(): AsyncGenerator<number> {
      try {
        for (let i = 0; ; i++) yield i
      } finally {
        finished = true
      }
    }
    for await (const x of readAhead(source(), { weight: () => 1, maxWeight: 2, prepare: async () => {} }))
      if (x === 3) break
    await tick()
    expect(finished).to.equal(true)
  })
})
