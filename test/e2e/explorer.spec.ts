/**
 * The block explorer in a real browser (docs/EXPLORER.md "Browser tests"): Debian's Chromium driven
 * by playwright-core against a 4-validator devnet of real node processes. A tx sent by the CLI shows
 * on the home page within 5 s without a reload; the block page verifies the commit certificate in
 * the browser (and reports a tampered signature invalid); a tx page flips from pending to final;
 * no console errors anywhere. Screenshots go to test-output/explorer/.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { expect } from 'chai'
import { type Browser, chromium, type Locator, type Page } from 'playwright-core'
import { waitFor } from '../helpers/wait.js'
import { rpc, runCli, startAll, TestNet, type TestNode } from './harness.js'

/** Debian's chromium package; PBFT_CHROMIUM names another binary. */
const CHROMIUM = process.env.PBFT_CHROMIUM ?? '/usr/bin/chromium'
const SHOTS = resolve('test-output/explorer')
const CHAIN = 'e2e-chain'

interface BlockJson {
  hash: string
  header: { height: number }
  txs: string[]
  commit: { votes: { validator: number; signature: string }[] } | null
}

function chromiumMissing(): string {
  return (
    `Chromium not found at ${CHROMIUM}. The explorer's browser spec needs it: install Debian's ` +
    '`chromium` package (`sudo apt-get install chromium`; `make test-deps` does it when run as root), ' +
    'or point PBFT_CHROMIUM at a Chromium binary.'
  )
}

async function cli(args: string[]): Promise<string> {
  const res = await runCli(args)
  if (res.code !== 0) throw new Error(`pbft ${args.join(' ')} exited ${res.code}: ${res.stderr}`)
  return res.stdout
}

describe('e2e: the block explorer in Chromium', function () {
  this.timeout(120_000)
  let net: TestNet
  let node: TestNode
  let browser: Browser
  let page: Page
  let keyDir: string
  let keyFile: string
  const problems: string[] = []

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(chromiumMissing())
    mkdirSync(SHOTS, { recursive: true })
    keyDir = mkdtempSync(join(tmpdir(), 'pbft-explorer-'))
    keyFile = join(keyDir, 'alice.json')
    net = await TestNet.create(4)
    node = net.nodes[0] as TestNode
    await startAll(net.nodes, 3)
    await cli(['keys', 'generate', '--out', keyFile])
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // as root Chromium refuses to start sandboxed
      args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
    })
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console: ${msg.text()}`)
    })
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`))
    page.on('response', (res) => {
      if (res.status() >= 400) problems.push(`HTTP ${res.status()} for ${res.url()}`)
    })
  })

  after(async () => {
    await browser?.close()
    await net?.close()
    if (keyDir !== undefined) rmSync(keyDir, { recursive: true, force: true })
  })

  afterEach(async function () {
    if (this.currentTest?.state !== 'failed') return
    if (page !== undefined) {
      const name = (
        this.currentTest.title.replace(/[^a-z0-9]+/gi, '-').slice(0, 60) || 'failed'
      ).toLowerCase()
      await page.screenshot({ path: join(SHOTS, `failed-${name}.png`), fullPage: true }).catch(() => {})
      console.error(`page ${page.url()}:\n${await text(page.locator('main')).catch(() => '?')}`)
    }
    if (net !== undefined) console.error(net.logsTail(15))
  })

  it('GET / in a browser lands on the explorer home, with the chain and its latest blocks', async () => {
    await page.goto(`${node.rpcUrl}/`)
    expect(new URL(page.url()).pathname).to.equal('/explorer/')
    await page.locator('[data-test=chain-id]').getByText(CHAIN).waitFor({ timeout: 10_000 })
    await page.locator('#live.on').waitFor({ timeout: 10_000 })
    expect(await page.locator('[data-test=recent-blocks] tbody tr').count()).to.be.greaterThan(0)
  })

  it('a tx sent by the CLI appears on the home page within 5 s, without a reload', async () => {
    await page.evaluate(`window.marker = 'same document'`)
    const sent = JSON.parse(
      await cli([
        'tx',
        'send',
        '--rpc',
        node.rpcUrl,
        '--key',
        keyFile,
        '--output',
        'json',
        'set',
        'greeting',
        'hello',
      ]),
    ) as { hash: string }
    const started = Date.now()
    await page.locator(`[data-test=recent-txs] tr[data-tx="${sent.hash}"]`).waitFor({ timeout: 5_000 })
    const elapsed = Date.now() - started
    const row = await text(page.locator(`[data-test=recent-txs] tr[data-tx="${sent.hash}"]`))
    expect(row).to.include('greeting').and.include('hello').and.include('set')
    expect(await page.evaluate('window.marker')).to.equal('same document')
    console.log(`      tx on the home page ${elapsed} ms after the CLI returned`)
    await page.screenshot({ path: join(SHOTS, 'home.png'), fullPage: true })
  })

  it('the block page verifies the commit certificate in the browser', async () => {
    const tip = (await node.status()).sync_info.latest_block_height
    const b = await rpc<BlockJson>(node.rpcUrl, 'block', { height: tip })
    const votes = b.commit?.votes.length ?? 0
    expect(votes).to.be.at.least(3)
    await go(page, `#/block/${tip}`)
    const summary = page.locator('[data-test=cert-summary]')
    await summary.waitFor({ timeout: 10_000 })
    expect(await text(summary)).to.equal(`${votes} of 4 signatures valid`)
    expect(await page.locator('[data-vote=valid]').count()).to.equal(votes)
    expect(await page.locator('[data-vote=invalid]').count()).to.equal(0)
    expect(await text(page.locator('[data-test=certificate]'))).to.include('final: a quorum (3 of 4)')
    await page.screenshot({ path: join(SHOTS, 'block.png'), fullPage: true })
  })

  it('a tampered signature is reported invalid (the browser checks, it does not trust the node)', async () => {
    const tip = (await node.status()).sync_info.latest_block_height
    const votes = (await rpc<BlockJson>(node.rpcUrl, 'block', { height: tip })).commit?.votes.length ?? 0
    // flip one bit of the first vote's signature in every `block` answer the page gets
    await page.route(`${node.rpcUrl}/`, async (route) => {
      const body = route.request().postData() ?? ''
      const response = await route.fetch()
      if (!body.includes('"method":"block"')) return route.fulfill({ response })
      const json = (await response.json()) as { result?: BlockJson }
      const vote = json.result?.commit?.votes[0]
      if (vote !== undefined) {
        const last = Number.parseInt(vote.signature.slice(-2), 16) ^ 1
        vote.signature = `${vote.signature.slice(0, -2)}${last.toString(16).padStart(2, '0')}`
      }
      return route.fulfill({ response, json })
    })
    try {
      // the page is still the block page of the test before: read afresh, through the tampering
      await page.reload()
      const summary = page.locator('[data-test=cert-summary]')
      await summary.waitFor({ timeout: 10_000 })
      expect(await text(summary)).to.equal(`${votes - 1} of 4 signatures valid`)
      expect(await page.locator('[data-vote=invalid]').count()).to.equal(1)
      await page.screenshot({ path: join(SHOTS, 'block-tampered.png'), fullPage: true })
    } finally {
      await page.unroute(`${node.rpcUrl}/`)
    }
  })

  it('a tx page flips from pending to final without a reload', async () => {
    const acct = await rpc<{ nonce: number }>(node.rpcUrl, 'account', { address: await keyAddress(keyFile) })
    // nonce + 1 first: it waits in the mempool (pending) until the tx with `nonce` arrives
    const ahead = (
      await cli([
        'tx',
        'sign',
        '--key',
        keyFile,
        '--nonce',
        String(acct.nonce + 1),
        '--chain-id',
        CHAIN,
        'set',
        'second',
        'two',
      ])
    ).trim()
    const submitted = JSON.parse(
      await cli(['tx', 'submit', '--rpc', node.rpcUrl, '--output', 'json', ahead]),
    ) as {
      hash: string
      status: string
    }
    expect(submitted.status).to.equal('pending')
    await go(page, `#/tx/${submitted.hash}`)
    const status = page.locator('[data-test=tx-status]')
    await status.getByText('pending').waitFor({ timeout: 10_000 })
    await page.screenshot({ path: join(SHOTS, 'tx-pending.png'), fullPage: true })
    await page.evaluate(`window.marker = 'tx page'`)
    await cli([
      'tx',
      'send',
      '--rpc',
      node.rpcUrl,
      '--key',
      keyFile,
      '--nonce',
      String(acct.nonce),
      'set',
      'first',
      'one',
    ])
    await status.getByText('final').waitFor({ timeout: 10_000 })
    expect(await page.evaluate('window.marker')).to.equal('tx page')
    await page.screenshot({ path: join(SHOTS, 'tx-final.png'), fullPage: true })
  })

  it('bad addresses show an error state, not a blank page', async () => {
    const cases: [string, string][] = [
      ['#/nope', 'no such page'],
      ['#/block/xyz', 'not a height or block hash'],
      ['#/block/999999', 'block not found: height 999999'],
      ['#/tx/0x12', 'not a tx hash'],
      ['#/account/%E0%A4%A', 'malformed address'],
      [`#/key/${'k'.repeat(300)}`, 'invalid params'],
    ]
    for (const [hash, message] of cases) {
      await go(page, hash)
      // each its own message: an error box left from the case before does not count
      await page.locator('[data-test=error]').getByText(message).waitFor({ timeout: 5_000 })
    }
    await page.screenshot({ path: join(SHOTS, 'error.png'), fullPage: true })
    const missing = await page.request.get(`${node.rpcUrl}/explorer/nope.js`)
    expect(missing.status()).to.equal(404)
  })

  it('the validators, peers, mempool, account, key and search pages draw', async () => {
    await page.goto(`${node.rpcUrl}/explorer/#/validators`)
    await page.locator('[data-test=validators] tbody tr').nth(3).waitFor({ timeout: 10_000 })
    const validators = page.locator('[data-test=validators]')
    expect(await validators.locator('[data-role=primary]').count()).to.equal(1)
    expect(await validators.locator('[data-conn=self]').count()).to.equal(1)
    expect(await validators.locator('[data-conn=connected]').count()).to.equal(3)
    expect(await text(validators)).to.match(/\d+ of \d+ \(\d+%\)/)
    await page.screenshot({ path: join(SHOTS, 'validators.png'), fullPage: true })
    await go(page, '#/peers')
    await page.locator('[data-test=peers] tbody tr').nth(2).waitFor({ timeout: 10_000 })
    await go(page, '#/mempool')
    await page.locator('[data-test=mempool-total]').waitFor({ timeout: 10_000 })
    // search: a key
    await page.fill('#search-input', 'greeting')
    await page.press('#search-input', 'Enter')
    await page.locator('[data-test=key]').getByText('hello').waitFor({ timeout: 10_000 })
    // search: an address
    const address = await keyAddress(keyFile)
    await page.fill('#search-input', address)
    await page.press('#search-input', 'Enter')
    await page.locator('[data-test=account]').getByText('pending nonce').waitFor({ timeout: 10_000 })
    await page.screenshot({ path: join(SHOTS, 'account.png'), fullPage: true })
  })

  it('no console errors and no page errors on any page', () => {
    expect(problems).to.deep.equal([])
  })

  it('reconnects its WebSocket when the node restarts, and is live again', async () => {
    await page.goto(`${node.rpcUrl}/explorer/`)
    await page.locator('#live.on').waitFor({ timeout: 10_000 })
    const before = problems.length
    await node.stop('SIGTERM')
    await page.locator('#live.off').getByText('reconnecting').waitFor({ timeout: 10_000 })
    node.start()
    await waitFor(async () => (await node.status()).n_peers >= 3, {
      timeoutMs: 30_000,
      intervalMs: 100,
      message: 'node0 back with 3 peers',
    })
    await page.locator('#live.on').waitFor({ timeout: 15_000 })
    const sent = JSON.parse(
      await cli([
        'tx',
        'send',
        '--rpc',
        node.rpcUrl,
        '--key',
        keyFile,
        '--output',
        'json',
        'set',
        'after',
        'restart',
      ]),
    ) as { hash: string }
    await page.locator(`[data-test=recent-txs] tr[data-tx="${sent.hash}"]`).waitFor({ timeout: 5_000 })
    // while the node was down the browser logged its refused connections; nothing else
    const other = problems
      .slice(before)
      .filter((p) => !/ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET|WebSocket connection to .* failed/.test(p))
    expect(other).to.deep.equal([])
  })
})

/** The text of an element (its DOM textContent). */
async function text(locator: Locator): Promise<string> {
  return (await locator.textContent()) ?? ''
}

/** Shows a page of the explorer the way a click on a link does: only the location's hash changes. */
async function go(page: Page, hash: string): Promise<void> {
  await page.evaluate(`location.hash = ${JSON.stringify(hash)}`)
}

async function keyAddress(file: string): Promise<string> {
  const key = JSON.parse(await readFile(file, 'utf8')) as { public_key: string }
  return key.public_key
}
